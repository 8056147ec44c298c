//! DeleteRecords: move partitions' log start offsets forward and answer the new low watermark
//! (on one node, the log start offset). Offset -1 means the high watermark. Segments wholly
//! below the new start are deleted; the rest of the records below it can no longer be read:
//! a fetch there gets OFFSET_OUT_OF_RANGE and ListOffsets EARLIEST answers the new start.
//! A topic the principal may not DELETE is TOPIC_AUTHORIZATION_FAILED for each partition,
//! checked before the topic is looked up, as in Kafka.

use kafka_protocol::messages::delete_records_request::DeleteRecordsPartition;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use vltava_cluster::acl::AclOperation;

use crate::dispatch::{Reply, RequestContext};
use crate::error::{BrokerError, Result};
use crate::topics::Topic;

/// The request's offset that stands for the partition's high watermark.
const HIGH_WATERMARK: i64 = -1;
/// The low watermark Kafka answers beside an error.
const UNKNOWN_LOW_WATERMARK: i64 = -1;

pub async fn handle(context: RequestContext, request: DeleteRecordsRequest) -> Reply {
    let broker = &context.broker;
    let authorization = context.authorization();
    // Moving the log start offset writes its checkpoint durably.
    let topics = tokio::task::block_in_place(|| {
        request
            .topics
            .into_iter()
            .map(|topic| {
                let allowed = authorization.allows_topic(AclOperation::Delete, &topic.name.0);
                let found = broker.topics.get(&topic.name.0);
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|wanted| {
                        let result = DeleteRecordsPartitionResult::default()
                            .with_partition_index(wanted.partition_index);
                        let deleted = match allowed {
                            true => delete_before(found.as_deref(), wanted),
                            false => Err(BrokerError::TopicAuthorizationFailed),
                        };
                        match deleted {
                            Ok(low_watermark) => result.with_low_watermark(low_watermark),
                            Err(error) => result
                                .with_low_watermark(UNKNOWN_LOW_WATERMARK)
                                .with_error_code(error.code()),
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(topic.name)
                    .with_partitions(partitions)
            })
            .collect()
    });
    DeleteRecordsResponse::default().with_topics(topics).into()
}

/// Kafka's checks in Kafka's order: the partition exists, the topic is not internal, its
/// cleanup policy deletes, the offset is within the log.
fn delete_before(topic: Option<&Topic>, wanted: &DeleteRecordsPartition) -> Result<i64> {
    let topic = topic.ok_or(BrokerError::UnknownTopicOrPartition)?;
    let partition = topic.led_here(wanted.partition_index)?;
    if topic.is_internal() {
        return Err(BrokerError::InternalTopicRecordDeletion(
            topic.name.to_string(),
        ));
    }
    if !partition.deletes_records() {
        return Err(BrokerError::RecordDeletionPolicy {
            topic: topic.name.to_string(),
            partition: wanted.partition_index,
        });
    }
    let offset = match wanted.offset {
        HIGH_WATERMARK => partition.high_watermark(),
        offset => offset,
    };
    partition.advance_log_start_offset(offset)
}
