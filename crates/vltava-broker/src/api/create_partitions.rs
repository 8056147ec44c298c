//! CreatePartitions: grow topics (never shrink them), or with validate_only check that they
//! could grow. Answers in Kafka's words: INVALID_PARTITIONS for a count that does not grow,
//! INVALID_REPLICA_ASSIGNMENT for assignments that do not name this one broker once per new
//! partition, INVALID_REQUEST for a topic named twice.

use std::collections::HashMap;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
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
    let results = {
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let result = match named.get_mut(&topic.name) {
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

/// Kafka sends no message for a topic it does not have; its own text for every other refusal.
fn error_message(error: &BrokerError) -> Option<StrBytes> {
    match error {
        BrokerError::UnknownTopicOrPartition => None,
        other => Some(str_bytes(other.message())),
    }
}

async fn grow(broker: &Broker, topic: &CreatePartitionsTopic, validate_only: bool) -> Result<()> {
    let name = topic.name.0.as_str();
    let current = broker.topics.validate_growth(name, topic.count)?;
    if let Some(assignments) = &topic.assignments {
        let additional = topic.count - current.partition_count();
        check_assignments(assignments, additional, broker.node_id())?;
    }
    if !validate_only {
        broker.add_partitions(name, topic.count).await?;
    }
    Ok(())
}

/// Kafka's checks of a manual assignment, on a cluster of one broker: one assignment per new
/// partition, each naming this broker exactly once.
fn check_assignments(
    assignments: &[CreatePartitionsAssignment],
    additional: i32,
    node_id: i32,
) -> Result<()> {
    if usize::try_from(additional).ok() != Some(assignments.len()) {
        return Err(AssignmentError::CountMismatch {
            additional,
            given: assignments.len(),
        }
        .into());
    }
    for assignment in assignments {
        let mut brokers: Vec<i32> = assignment.broker_ids.iter().map(|id| id.0).collect();
        if brokers.is_empty() {
            return Err(AssignmentError::Empty.into());
        }
        brokers.sort_unstable();
        for pair in brokers.windows(2) {
            if pair[0] == pair[1] {
                return Err(AssignmentError::DuplicateBroker(pair[0]).into());
            }
        }
        if let Some(&other) = brokers.iter().find(|&&id| id != node_id) {
            return Err(AssignmentError::UnknownBroker(other).into());
        }
    }
    Ok(())
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
        check_assignments(&assignments, additional, 1)
            .err()
            .map(|e| e.message())
    }

    #[test]
    fn assignments_must_name_this_broker_once_per_new_partition() {
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
