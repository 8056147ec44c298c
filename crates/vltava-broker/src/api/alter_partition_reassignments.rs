//! AlterPartitionReassignments (KIP-455; v1 adds KIP-860's allow_replication_factor_change):
//! every partition that exists goes to the controller in one decision
//! (`vltava-cluster::controller::reassignment`), and the answer comes once the accepted
//! reassignments are served here. A null replica list cancels a partition's reassignment.
//! Without ALTER on the cluster every partition is CLUSTER_AUTHORIZATION_FAILED.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use vltava_cluster::acl::AclOperation;
use vltava_cluster::controller::reassignment::Reassignment;

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

/// A partition's error code and message.
type Refusal = (i16, String);

pub async fn handle(context: RequestContext, request: AlterPartitionReassignmentsRequest) -> Reply {
    let broker = &context.broker;
    let allow_replication_factor_change = request.allow_replication_factor_change;
    // Kafka's controller checks ALTER on the cluster first and refuses the whole request.
    if let Err(refused) = context.authorization().check_cluster(AclOperation::Alter) {
        return refused_whole(&request, refused);
    }
    // (topic, partition) in the request's order, each either sent or refused here.
    let mut asked: Vec<(String, i32, Option<Refusal>)> = Vec::new();
    let mut reassignments = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let found = broker.topics.get(&name);
        for partition in &topic.partitions {
            let index = partition.partition_index;
            let refusal = match &found {
                None => Some(unknown(format!("Unable to find topic {name}"))),
                Some(t) if !t.has_partition(index) => {
                    Some(unknown(format!("Unable to find partition {name}:{index}")))
                }
                Some(t) => {
                    reassignments.push(Reassignment {
                        topic_id: t.id,
                        partition_id: index,
                        target: partition
                            .replicas
                            .as_ref()
                            .map(|r| r.iter().map(|b| b.0).collect()),
                        allow_replication_factor_change,
                    });
                    None
                }
            };
            asked.push((name.clone(), index, refusal));
        }
    }
    let decided = match reassignments.is_empty() {
        true => Ok(Vec::new()),
        false => broker.reassign_partitions(reassignments).await,
    };
    let mut results = match decided {
        Ok(results) => results.into_iter(),
        Err(error) => {
            // The controller could not be asked (or did not answer): the whole request fails.
            return AlterPartitionReassignmentsResponse::default()
                .with_allow_replication_factor_change(allow_replication_factor_change)
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(error.message())))
                .into();
        }
    };
    let mut responses: Vec<ReassignableTopicResponse> = Vec::new();
    for (name, index, refusal) in asked {
        let refusal = refusal.or_else(|| match results.next() {
            Some(Ok(())) | None => None,
            Some(Err(error)) => Some((
                crate::error::controller_error_code(&error.clone().into()),
                error.to_string(),
            )),
        });
        let partition = ReassignablePartitionResponse::default().with_partition_index(index);
        let partition = match refusal {
            None => partition.with_error_message(None),
            Some((code, message)) => partition
                .with_error_code(code)
                .with_error_message(Some(str_bytes(message))),
        };
        match responses.last_mut() {
            Some(topic) if topic.name.0.as_str() == name => topic.partitions.push(partition),
            _ => responses.push(
                ReassignableTopicResponse::default()
                    .with_name(kafka_protocol::messages::TopicName(str_bytes(name)))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_replication_factor_change)
        .with_responses(responses)
        .into()
}

/// Kafka's `AlterPartitionReassignmentsRequest.getErrorResponse`: the error at the top and on
/// every partition, with its message.
fn refused_whole(request: &AlterPartitionReassignmentsRequest, refused: ResponseError) -> Reply {
    let message = || Some(str_bytes(refused.to_string()));
    let responses = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(refused.code())
                        .with_error_message(message())
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_error_code(refused.code())
        .with_error_message(message())
        .with_responses(responses)
        .into()
}

fn unknown(message: String) -> Refusal {
    (ResponseError::UnknownTopicOrPartition.code(), message)
}
