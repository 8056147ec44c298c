//! ListPartitionReassignments (KIP-455): the reassignments in progress, from this broker's
//! metadata image (every broker has the controller's view, as of its last image). Null topics:
//! every partition being reassigned; named partitions that are not being reassigned (or do
//! not exist) are left out, as Kafka leaves them out. Needs DESCRIBE on the cluster (else
//! CLUSTER_AUTHORIZATION_FAILED), as in Kafka.

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use vltava_cluster::acl::AclOperation;
use vltava_cluster::image::{PartitionRegistration, TopicImage};

use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};

pub async fn handle(context: RequestContext, request: ListPartitionReassignmentsRequest) -> Reply {
    // Kafka's controller checks DESCRIBE on the cluster first and refuses the whole request,
    // listing the asked partitions with nothing about them.
    if let Err(refused) = context
        .authorization()
        .check_cluster(AclOperation::Describe)
    {
        let asked = request.topics.unwrap_or_default().into_iter().map(|t| {
            let partitions = t
                .partition_indexes
                .into_iter()
                .map(|index| OngoingPartitionReassignment::default().with_partition_index(index));
            OngoingTopicReassignment::default()
                .with_name(t.name)
                .with_partitions(partitions.collect())
        });
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(refused.code())
            .with_error_message(Some(str_bytes(refused.to_string())))
            .with_topics(asked.collect())
            .into();
    }
    let image = context.broker.topics.published_image();
    let topics: Vec<OngoingTopicReassignment> = match request.topics {
        None => image
            .topics_by_id
            .values()
            .filter_map(|topic| ongoing(topic, None))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|t| {
                let topic = image.topic(t.name.0.as_str())?;
                ongoing(topic, Some(&t.partition_indexes))
            })
            .collect(),
    };
    ListPartitionReassignmentsResponse::default()
        .with_topics(topics)
        .into()
}

/// The topic's partitions being reassigned (of `only`, when given); `None` if there are none.
fn ongoing(topic: &TopicImage, only: Option<&Vec<i32>>) -> Option<OngoingTopicReassignment> {
    let partitions: Vec<OngoingPartitionReassignment> = topic
        .partitions
        .iter()
        .filter(|(index, p)| p.is_reassigning() && only.is_none_or(|o| o.contains(index)))
        .map(|(&index, p)| describe(index, p))
        .collect();
    (!partitions.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(TopicName(str_bytes(topic.name.clone())))
            .with_partitions(partitions)
    })
}

fn describe(index: i32, p: &PartitionRegistration) -> OngoingPartitionReassignment {
    let ids = |brokers: &[i32]| brokers.iter().map(|&b| BrokerId(b)).collect();
    OngoingPartitionReassignment::default()
        .with_partition_index(index)
        .with_replicas(ids(&p.replicas))
        .with_adding_replicas(ids(&p.adding_replicas))
        .with_removing_replicas(ids(&p.removing_replicas))
}
