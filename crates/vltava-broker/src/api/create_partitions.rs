//! CreatePartitions: grow topics (never shrink them), or with validate_only check that they
//! could grow. Answers in Kafka's words: INVALID_PARTITIONS for a count that does not grow,
//! INVALID_REPLICA_ASSIGNMENT for assignments that do not name one registered broker per new
//! partition (`replica_assignment`), INVALID_REQUEST for a topic named twice, and
//! TOPIC_AUTHORIZATION_FAILED (no message) without ALTER on the topic, as Kafka's
//! `ControllerApis.createPartitions` checks after the duplicates.

use std::collections::HashMap;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use vltava_cluster::acl::AclOperation;

use super::{replica_assignment, str_bytes};
use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};
use crate::error::{AssignmentError, BrokerError, Result};

pub async fn handle(context: RequestContext, request: CreatePartitionsRequest) -> Reply {
    let broker = &context.broker;
    let mut named: HashMap<TopicName, usize> = HashMap::new();
    for topic in &request.topics {
        *named.entry(topic.name.clone()).or_default() += 1;
    }
    let validate_only = request.validate_only;
    let authorization = context.authorization();
    let results = {
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let result = match named.get_mut(&topic.name) {
                Some(1) if !authorization.allows_topic(AclOperation::Alter, &topic.name.0) => {
                    Err(BrokerError::TopicAuthorizationFailed)
                }
                Some(1) => grow(broker, &topic, validate_only).await,
                // Kafka answers a duplicated name once, and grows it neither time.
                Some(0) => continue,
                Some(count) => {
                    *count = 0;
                    Err(BrokerError::DuplicateTopic)
                }
                None => continue,
            };
            let answer = CreatePartitionsTopicResult::default().with_name(topic.name);
            results.push(match result {
                Ok(()) => answer,
                Err(error) => answer
                    .with_error_code(error.code())
                    .with_error_message(error_message(&error)),
            });
        }
        results
    };
    CreatePartitionsResponse::default()
        .with_results(results)
        .into()
}

/// Kafka sends no message for a topic it does not have or may not alter; its own text for
/// every other refusal.
fn error_message(error: &BrokerError) -> Option<StrBytes> {
    match error {
        BrokerError::UnknownTopicOrPartition | BrokerError::TopicAuthorizationFailed => None,
        other => Some(str_bytes(other.message())),
    }
}

async fn grow(broker: &Broker, topic: &CreatePartitionsTopic, validate_only: bool) -> Result<()> {
    let name = topic.name.0.as_str();
    let current = broker.topics.validate_growth(name, topic.count)?;
    let assignments = match &topic.assignments {
        Some(assignments) => {
            let additional = topic.count - current.partition_count();
            let image = broker.image();
            check_assignments(assignments, additional, |id| {
                image.brokers.contains_key(&id)
            })?
        }
        None => Vec::new(),
    };
    if !validate_only {
        broker
            .add_partitions(name, topic.count, assignments)
            .await?;
    }
    Ok(())
}

/// Kafka's checks of a manual assignment: one per new partition, each a valid replica list.
fn check_assignments(
    assignments: &[CreatePartitionsAssignment],
    additional: i32,
    registered: impl Fn(i32) -> bool,
) -> Result<Vec<Vec<i32>>> {
    if usize::try_from(additional).ok() != Some(assignments.len()) {
        return Err(AssignmentError::CountMismatch {
            additional,
            given: assignments.len(),
        }
        .into());
    }
    replica_assignment::check(
        assignments.iter().map(|a| a.broker_ids.as_slice()),
        registered,
    )
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::BrokerId;

    use kafka_protocol::error::ResponseError;

    use super::*;

    fn assignment(brokers: &[i32]) -> CreatePartitionsAssignment {
        CreatePartitionsAssignment::default()
            .with_broker_ids(brokers.iter().map(|&b| BrokerId(b)).collect())
    }

    fn refusal(assignments: &[&[i32]], additional: i32) -> Option<String> {
        let assignments: Vec<_> = assignments.iter().map(|b| assignment(b)).collect();
        check_assignments(&assignments, additional, |id| id == 1)
            .err()
            .map(|e| e.message())
    }

    #[test]
    fn assignments_name_one_registered_broker_per_new_partition() {
        assert_eq!(refusal(&[&[1], &[1]], 2), None);
        assert_eq!(
            refusal(&[&[1]], 2).as_deref(),
            Some(
                "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."
            )
        );
        assert_eq!(
            refusal(&[&[7], &[1]], 2).as_deref(),
            Some(
                "The manual partition assignment includes broker 7, but no such broker is registered."
            )
        );
        assert_eq!(
            refusal(&[&[1, 1]], 1).as_deref(),
            Some("The manual partition assignment includes the broker 1 more than once.")
        );
        assert_eq!(
            refusal(&[&[1, 7]], 1).as_deref(),
            Some(
                "The manual partition assignment includes broker 7, but no such broker is registered."
            )
        );
        assert!(refusal(&[&[1, 2]], 1).is_some());
        assert_eq!(
            refusal(&[&[]], 1).as_deref(),
            Some("The manual partition assignment includes an empty replica list.")
        );
    }

    #[test]
    fn a_refused_assignment_is_invalid_replica_assignment() {
        let error = BrokerError::from(AssignmentError::Empty);
        assert_eq!(error.code(), ResponseError::InvalidReplicaAssignment.code());
    }
}
