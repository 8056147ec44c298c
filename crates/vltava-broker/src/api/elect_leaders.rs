//! ElectLeaders: on one node every partition's leader is this broker, which is also its
//! preferred replica, so no election is ever needed. Answered as Kafka's controller answers
//! when the leader is already the one an election would choose: ELECTION_NOT_NEEDED for each
//! listed partition, for PREFERRED and UNCLEAN alike (an unclean election is only for a
//! partition without a leader). With null topics (every partition) Kafka leaves out the
//! partitions that need no election, so every topic is listed with no partitions.

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};
use crate::error::BrokerError;

/// Kafka's `ElectionType` values; v0 requests have no field and mean PREFERRED.
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

pub async fn handle(context: RequestContext, request: ElectLeadersRequest) -> Reply {
    let broker = &context.broker;
    let wanted = request.topic_partitions;
    if !matches!(request.election_type, PREFERRED | UNCLEAN) {
        // Kafka fails the whole request, naming the error on every listed partition too.
        let error = BrokerError::UnknownElectionType(request.election_type);
        let results = wanted
            .unwrap_or_default()
            .into_iter()
            .map(|topic| answer(topic, |_| &error))
            .collect();
        return ElectLeadersResponse::default()
            .with_error_code(error.code())
            .with_replica_election_results(results)
            .into();
    }
    let results = match wanted {
        None => broker
            .topics
            .all()
            .iter()
            .map(|topic| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(str_bytes(topic.name.to_string())))
            })
            .collect(),
        Some(wanted) => wanted
            .into_iter()
            .map(|topic| {
                let name = topic.topic.0.to_string();
                answer(topic, |index| outcome(broker, &name, index))
            })
            .collect(),
    };
    ElectLeadersResponse::default()
        .with_replica_election_results(results)
        .into()
}

/// What electing a leader for one partition comes to, in Kafka's words.
fn outcome(broker: &Broker, topic: &str, partition: i32) -> BrokerError {
    match broker.topics.get(topic) {
        None => BrokerError::NoSuchTopic(topic.to_string()),
        Some(found) if !found.has_partition(partition) => BrokerError::NoSuchPartition {
            topic: topic.to_string(),
            partition,
        },
        Some(_) => BrokerError::ElectionNotNeeded,
    }
}

fn answer<E: std::borrow::Borrow<BrokerError>>(
    topic: TopicPartitions,
    outcome: impl Fn(i32) -> E,
) -> ReplicaElectionResult {
    let partitions = topic
        .partitions
        .iter()
        .map(|&index| {
            let error = outcome(index);
            let error = error.borrow();
            PartitionResult::default()
                .with_partition_id(index)
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(error.message())))
        })
        .collect();
    ReplicaElectionResult::default()
        .with_topic(topic.topic)
        .with_partition_result(partitions)
}
