//! DescribeLogDirs: vltava keeps every partition in one log directory, the data directory.
//! Each partition reports the bytes of its log segments (indexes excluded, as Kafka's
//! `UnifiedLog.size`), an offset lag of 0 (a leader's log end is its own) and is never a
//! "future" replica (no log directory moves). Null topics means every partition; listed
//! partitions this broker does not have are left out, as Kafka does. Without DESCRIBE on the
//! cluster the answer is CLUSTER_AUTHORIZATION_FAILED (v3+; older versions have no error
//! field) and no log directories.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use vltava_cluster::acl::AclOperation;

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::{Reply, RequestContext};
use crate::topics::Topic;

/// Kafka's `DescribeLogDirsResponse.UNKNOWN_VOLUME_BYTES`, when statvfs fails.
const UNKNOWN_VOLUME_BYTES: i64 = -1;

/// The total and usable bytes of the volume holding `dir` (KIP-827), as Java's
/// `FileStore.getTotalSpace` and `getUsableSpace` give them: usable is what an unprivileged
/// process may still write.
fn volume_bytes(dir: &std::path::Path) -> (i64, i64) {
    let Ok(stats) = rustix::fs::statvfs(dir) else {
        return (UNKNOWN_VOLUME_BYTES, UNKNOWN_VOLUME_BYTES);
    };
    let bytes =
        |blocks: u64| i64::try_from(blocks.saturating_mul(stats.f_frsize)).unwrap_or(i64::MAX);
    (bytes(stats.f_blocks), bytes(stats.f_bavail))
}

pub async fn handle(context: RequestContext, request: DescribeLogDirsRequest) -> Reply {
    let broker = &context.broker;
    if let Err(refused) = context
        .authorization()
        .check_cluster(AclOperation::Describe)
    {
        return DescribeLogDirsResponse::default()
            .with_error_code(refused.code())
            .into();
    }
    let topics = match request.topics {
        None => broker
            .topics
            .all()
            .iter()
            .filter_map(|topic| describe(topic, |_| true))
            .collect(),
        Some(wanted) => describe_wanted(broker, wanted),
    };
    let data_dir = &broker.config.data_dir;
    let log_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.clone());
    let (total_bytes, usable_bytes) = volume_bytes(&log_dir);
    let result = DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(log_dir.to_string_lossy()))
        .with_topics(topics)
        .with_total_bytes(total_bytes)
        .with_usable_bytes(usable_bytes);
    DescribeLogDirsResponse::default()
        .with_results(vec![result])
        .into()
}

/// The listed partitions that exist, each once, by topic name and partition index.
fn describe_wanted(
    broker: &Broker,
    wanted: Vec<DescribableLogDirTopic>,
) -> Vec<DescribeLogDirsTopic> {
    let mut by_topic: BTreeMap<TopicName, BTreeSet<i32>> = BTreeMap::new();
    for topic in wanted {
        by_topic
            .entry(topic.topic)
            .or_default()
            .extend(topic.partitions);
    }
    by_topic
        .into_iter()
        .filter_map(|(name, indexes)| {
            let topic = broker.topics.get(&name.0)?;
            describe(&topic, |index| indexes.contains(&index))
        })
        .collect()
}

/// The topic's partitions that `wanted` keeps; `None` if that is none of them.
fn describe(topic: &Topic, wanted: impl Fn(i32) -> bool) -> Option<DescribeLogDirsTopic> {
    let partitions: Vec<DescribeLogDirsPartition> = topic
        .partitions
        .iter()
        .filter(|partition| wanted(partition.index))
        .map(|partition| {
            DescribeLogDirsPartition::default()
                .with_partition_index(partition.index)
                .with_partition_size(i64::try_from(partition.size_bytes()).unwrap_or(i64::MAX))
                .with_offset_lag(0)
                .with_is_future_key(false)
        })
        .collect();
    (!partitions.is_empty()).then(|| {
        DescribeLogDirsTopic::default()
            .with_name(TopicName(str_bytes(topic.name.to_string())))
            .with_partitions(partitions)
    })
}
