//! DescribeTopicPartitions (KIP-966): Metadata's topic view with eligible leader replicas,
//! paginated by a partition limit and a cursor. Kafka 4's admin client (`kafka-topics
//! --describe`, `Admin.describeTopics`) asks this first. Answered from the metadata image.
//! As in Kafka: topics the principal may not DESCRIBE are left out of "all topics" and are
//! TOPIC_AUTHORIZATION_FAILED (with no id) when named; every topic answered carries the
//! principal's authorized operations on it.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};

use vltava_cluster::acl::{AclOperation, ResourceType};
use vltava_cluster::{MetadataImage, PartitionRegistration};

use super::metadata::PartitionView;
use super::str_bytes;
use crate::dispatch::{Reply, RequestContext};
use crate::topics::Topic;

pub async fn handle(context: RequestContext, request: DescribeTopicPartitionsRequest) -> Reply {
    let broker = &context.broker;
    let image = broker.image();
    let authorization = context.authorization();
    let describable = |name: &str| authorization.allows_topic(AclOperation::Describe, name);
    // Asked-for topics, or all of them; in name order either way, as Kafka pages through them.
    let mut names: Vec<String> = if request.topics.is_empty() {
        broker
            .topics
            .all()
            .iter()
            .map(|t| t.name.to_string())
            .filter(|name| describable(name))
            .collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.0.to_string())
            .collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = match &request.cursor {
        Some(cursor) => (
            cursor.topic_name.0.to_string(),
            cursor.partition_index.max(0),
        ),
        None => (String::new(), 0),
    };
    let mut budget = usize::try_from(request.response_partition_limit.max(1)).unwrap_or(1);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names.into_iter().filter(|n| *n >= start_topic) {
        let operations = authorization.authorized_operations(ResourceType::Topic, &name);
        if !describable(&name) {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(TopicName(str_bytes(name))))
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
            );
            continue;
        }
        let Some(topic) = broker.topics.get(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(TopicName(str_bytes(name))))
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_topic_authorized_operations(operations),
            );
            continue;
        };
        let first = if name == start_topic {
            start_partition
        } else {
            0
        };
        let (described, rest) = describe(&image, &topic, first, budget);
        budget -= described.partitions.len();
        topics.push(described.with_topic_authorized_operations(operations));
        if let Some(next) = rest {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partition_index(next),
            );
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
        .into()
}

/// The topic with at most `budget` partitions from `first`; the next partition index if some
/// did not fit.
fn describe(
    image: &MetadataImage,
    topic: &Arc<Topic>,
    first: i32,
    budget: usize,
) -> (DescribeTopicPartitionsResponseTopic, Option<i32>) {
    let remaining: Vec<(&i32, &PartitionRegistration)> =
        topic.image.partitions.range(first..).collect();
    let rest = remaining.get(budget).map(|(index, _)| **index);
    let partitions = remaining
        .into_iter()
        .take(budget)
        .map(|(&index, p)| {
            let view = PartitionView::of(image, p);
            let ids = |brokers: &[i32]| brokers.iter().copied().map(BrokerId).collect();
            DescribeTopicPartitionsResponsePartition::default()
                .with_error_code(view.error_code())
                .with_partition_index(index)
                .with_leader_id(view.leader)
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(view.replicas)
                .with_isr_nodes(view.isr)
                .with_offline_replicas(view.offline)
                .with_eligible_leader_replicas(Some(ids(&p.eligible_leader_replicas)))
                .with_last_known_elr(Some(ids(&p.last_known_elr)))
        })
        .collect();
    let described = DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(topic.name.to_string()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.is_internal())
        .with_partitions(partitions);
    (described, rest)
}
