//! ListOffsets: earliest, latest, max timestamp (KIP-734), or the first offset at or after a
//! timestamp. Offsets past the high watermark are never revealed; for a read_committed
//! client (isolation level 1, v2+) the latest offset is the last stable offset.

use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::dispatch::{Reply, RequestContext};
use crate::error::{BrokerError, Result};
use crate::leader_epoch::{check_current_leader_epoch, epoch_unless_none};
use crate::partition::Partition;
use crate::topics::Topic;
use vltava_cluster::acl::AclOperation;

const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-405/KIP-1005: without tiered storage, local and remote logs are the same log.
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
const LATEST_TIERED_TIMESTAMP: i64 = -5;
/// Kafka answers "no such offset" with -1 for both fields.
const UNKNOWN: i64 = -1;

/// ListOffsets v4 added the leader epoch; earlier versions cannot carry it.
const LEADER_EPOCH_VERSION_MIN: i16 = 4;
const READ_COMMITTED: i8 = 1;

/// Which latest offset a client may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// The high watermark.
    ReadUncommitted,
    /// The last stable offset: no open transaction's records below it.
    ReadCommitted,
}

pub async fn handle(context: RequestContext, request: ListOffsetsRequest) -> Reply {
    let broker = &context.broker;
    let with_epoch = context.api_version >= LEADER_EPOCH_VERSION_MIN;
    let isolation = match request.isolation_level {
        READ_COMMITTED => Isolation::ReadCommitted,
        _ => Isolation::ReadUncommitted,
    };
    let authorization = context.authorization();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = broker.topics.get(&topic.name.0);
            // Kafka: DESCRIBE on the topic.
            let allowed = authorization.allows_topic(AclOperation::Describe, &topic.name);
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let partition = match allowed {
                        true => Topic::led_in(found.as_ref(), wanted.partition_index),
                        false => Err(BrokerError::TopicAuthorizationFailed),
                    };
                    answer(partition.map(|p| p.as_ref()), wanted, with_epoch, isolation)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics).into()
}

/// The answer for one partition (or why this broker cannot answer for it).
fn answer(
    partition: std::result::Result<&Partition, BrokerError>,
    wanted: &ListOffsetsPartition,
    with_epoch: bool,
    isolation: Isolation,
) -> ListOffsetsPartitionResponse {
    let response =
        ListOffsetsPartitionResponse::default().with_partition_index(wanted.partition_index);
    let found = partition.map_err(|e| e.code()).and_then(|partition| {
        let leader_epoch = partition.leader_epoch();
        check_current_leader_epoch(epoch_unless_none(wanted.current_leader_epoch), leader_epoch)
            .map_err(|e| e.code())?;
        let (offset, timestamp) = lookup(partition, wanted, isolation).map_err(|e| e.code())?;
        Ok((offset, timestamp, leader_epoch))
    });
    match found {
        Ok((offset, timestamp, leader_epoch)) => response
            .with_offset(offset)
            .with_timestamp(timestamp)
            .with_leader_epoch(if offset == UNKNOWN || !with_epoch {
                -1
            } else {
                leader_epoch
            }),
        // As Kafka's `buildErrorResponse`: no offset, no timestamp, leader epoch -1.
        Err(code) => response
            .with_error_code(code)
            .with_timestamp(UNKNOWN)
            .with_offset(UNKNOWN)
            .with_leader_epoch(-1),
    }
}

/// `(offset, timestamp)` for one partition.
fn lookup(
    partition: &Partition,
    wanted: &ListOffsetsPartition,
    isolation: Isolation,
) -> Result<(i64, i64)> {
    let offsets = partition.offsets();
    Ok(match wanted.timestamp {
        LATEST_TIMESTAMP | LATEST_TIERED_TIMESTAMP if isolation == Isolation::ReadCommitted => {
            (partition.last_stable_offset(), UNKNOWN)
        }
        LATEST_TIMESTAMP | LATEST_TIERED_TIMESTAMP => (offsets.high_watermark, UNKNOWN),
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => (offsets.log_start_offset, UNKNOWN),
        MAX_TIMESTAMP => partition.max_timestamp()?.unwrap_or((UNKNOWN, UNKNOWN)),
        timestamp => partition
            .offset_for_timestamp(timestamp)?
            .unwrap_or((UNKNOWN, UNKNOWN)),
    })
}
