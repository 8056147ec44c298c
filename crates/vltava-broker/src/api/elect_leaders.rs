//! ElectLeaders. With one replica per partition (no replication yet) the only replica is the
//! preferred one and the only possible leader: a partition that has a leader needs no election
//! (ELECTION_NOT_NEEDED, for PREFERRED and UNCLEAN alike, as Kafka's controller answers when the
//! leader is already the one an election would choose), and one without (its broker is down)
//! cannot get one: PREFERRED_LEADER_NOT_AVAILABLE, or ELIGIBLE_LEADERS_NOT_AVAILABLE for an
//! unclean election. With null topics (every partition) Kafka leaves out the partitions that
//! need no election, so every topic is listed with no partitions.

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
                answer(topic, |index| {
                    outcome(broker, &name, index, request.election_type)
                })
            })
            .collect(),
    };
    ElectLeadersResponse::default()
        .with_replica_election_results(results)
        .into()
}

/// What electing a leader for one partition comes to, in Kafka's words.
fn outcome(broker: &Broker, topic: &str, partition: i32, election_type: i8) -> BrokerError {
    let Some(found) = broker.topics.get(topic) else {
        return BrokerError::NoSuchTopic(topic.to_string());
    };
    match found.image.partitions.get(&partition) {
        None => BrokerError::NoSuchPartition {
            topic: topic.to_string(),
            partition,
        },
        Some(p) if p.has_leader() => BrokerError::ElectionNotNeeded,
        Some(_) if election_type == UNCLEAN => BrokerError::EligibleLeadersNotAvailable,
        Some(_) => BrokerError::PreferredLeaderNotAvailable,
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
