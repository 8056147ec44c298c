//! ElectLeaders (KIP-460), decided by the active controller: PREFERRED moves each listed
//! partition's leadership to its first replica when that one is live and in sync
//! (ELECTION_NOT_NEEDED if it leads already, PREFERRED_LEADER_NOT_AVAILABLE if it cannot);
//! UNCLEAN gives a leaderless partition a leader, from the ISR if possible, else from any live
//! replica (ELECTION_NOT_NEEDED for one that has a leader, ELIGIBLE_LEADERS_NOT_AVAILABLE when
//! no replica is live). The answer comes once the new leaders are published here. With null
//! topics (every partition) Kafka leaves out the partitions that need no election, so every
//! topic is listed with no partitions. Without ALTER on the cluster the whole request is
//! CLUSTER_AUTHORIZATION_FAILED, as Kafka's controller answers.

use std::collections::HashMap;

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use uuid::Uuid;
use vltava_cluster::acl::AclOperation;
use vltava_cluster::controller::elect_leaders::{ElectionOutcome, ElectionType};

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
    // Kafka's controller checks ALTER on the cluster before anything else.
    if let Err(refused) = context.authorization().check_cluster(AclOperation::Alter) {
        return failed(wanted, (refused.code(), refused.to_string()));
    }
    let election_type = match request.election_type {
        PREFERRED => ElectionType::Preferred,
        UNCLEAN => ElectionType::Unclean,
        // Kafka fails the whole request.
        other => return failed(wanted, refusal(&BrokerError::UnknownElectionType(other))),
    };
    let Some(wanted) = wanted else {
        let results = broker
            .topics
            .all()
            .iter()
            .map(|topic| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(str_bytes(topic.name.to_string())))
            })
            .collect();
        return ElectLeadersResponse::default()
            .with_replica_election_results(results)
            .into();
    };
    // Every partition that exists goes to the controller in one decision.
    let mut asked: Vec<(Uuid, i32)> = Vec::new();
    for topic in &wanted {
        if let Some(found) = broker.topics.get(&topic.topic.0) {
            let existing = topic.partitions.iter().filter(|&&i| found.has_partition(i));
            asked.extend(existing.map(|&i| (found.id, i)));
        }
    }
    let decided: Result<HashMap<(Uuid, i32), ElectionOutcome>, Refusal> = if asked.is_empty() {
        Ok(HashMap::new())
    } else {
        broker
            .elect_leaders(election_type, asked.clone())
            .await
            .map(|outcomes| asked.into_iter().zip(outcomes).collect())
            .map_err(|error| refusal(&error))
    };
    let results = wanted
        .into_iter()
        .map(|topic| {
            let name = topic.topic.0.to_string();
            answer(topic, |index| outcome(broker, &name, index, &decided))
        })
        .collect();
    ElectLeadersResponse::default()
        .with_replica_election_results(results)
        .into()
}

/// What electing a leader for one partition came to, in Kafka's words.
fn outcome(
    broker: &Broker,
    topic: &str,
    partition: i32,
    decided: &Result<HashMap<(Uuid, i32), ElectionOutcome>, Refusal>,
) -> Result<(), Refusal> {
    let Some(found) = broker.topics.get(topic) else {
        return Err(refusal(&BrokerError::NoSuchTopic(topic.to_string())));
    };
    let decided = decided.as_ref().map_err(Clone::clone)?;
    let error = match decided.get(&(found.id, partition)) {
        Some(ElectionOutcome::Elected) => return Ok(()),
        Some(ElectionOutcome::NotNeeded) => BrokerError::ElectionNotNeeded,
        Some(ElectionOutcome::PreferredNotAvailable) => BrokerError::PreferredLeaderNotAvailable,
        Some(ElectionOutcome::EligibleNotAvailable) => BrokerError::EligibleLeadersNotAvailable,
        Some(ElectionOutcome::UnknownPartition) | None => BrokerError::NoSuchPartition {
            topic: topic.to_string(),
            partition,
        },
    };
    Err(refusal(&error))
}

/// A partition's error code and message.
type Refusal = (i16, String);

fn refusal(error: &BrokerError) -> Refusal {
    (error.code(), error.message())
}

/// Kafka's answer to a request it refuses whole: the error at the top and on every listed
/// partition (`ElectLeadersRequest.getErrorResponse`).
fn failed(wanted: Option<Vec<TopicPartitions>>, (code, message): Refusal) -> Reply {
    let results = wanted
        .unwrap_or_default()
        .into_iter()
        .map(|topic| answer(topic, |_| Err((code, message.clone()))))
        .collect();
    ElectLeadersResponse::default()
        .with_error_code(code)
        .with_replica_election_results(results)
        .into()
}

fn answer(
    topic: TopicPartitions,
    outcome: impl Fn(i32) -> Result<(), Refusal>,
) -> ReplicaElectionResult {
    let partitions = topic
        .partitions
        .iter()
        .map(|&index| match outcome(index) {
            Ok(()) => PartitionResult::default().with_partition_id(index),
            Err((code, message)) => PartitionResult::default()
                .with_partition_id(index)
                .with_error_code(code)
                .with_error_message(Some(str_bytes(message))),
        })
        .collect();
    ReplicaElectionResult::default()
        .with_topic(topic.topic)
        .with_partition_result(partitions)
}
