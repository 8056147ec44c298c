//! The requests the raw-protocol tests send most, on [`wire::Client`], and the record batch
//! a producer writes: one place, so each test file keeps only the requests it is about.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, ListOffsetsRequest, ProduceRequest, RequestKind,
    ResponseKind, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::wire;
use super::{BoxError, TestResult};

const NONE: i16 = 0;
const CREATE_TOPICS_VERSION: i16 = 7;
const LIST_OFFSETS_VERSION: i16 = 7;
/// How long CreateTopics may take, in the request.
const CREATE_TIMEOUT_MS: i32 = 10_000;
/// How long an acks=all produce may wait for the batch to be durable, in the request.
const PRODUCE_TIMEOUT_MS: i32 = 10_000;
const ACKS_ALL: i16 = -1;
/// ListOffsets timestamp asking for the latest offset.
const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets isolation level: read_committed answers the last stable offset.
pub const READ_UNCOMMITTED: i8 = 0;
pub const READ_COMMITTED: i8 = 1;

pub fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// Who writes a batch, and where it starts in the producer's sequence.
#[derive(Debug, Clone, Copy)]
pub struct BatchOf {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    pub records: i32,
    pub transactional: bool,
}

/// A v2 record batch as a client sends it (base offset 0, CRC-32C over the batch); record
/// `i`'s key and value are `key_value(base_sequence + i)`.
pub fn record_batch(
    of: BatchOf,
    key_value: impl Fn(i32) -> (Option<Bytes>, Bytes),
) -> Result<Bytes, BoxError> {
    let records: Vec<Record> = (0..of.records)
        .map(|i| {
            let sequence = of.base_sequence + i;
            let (key, value) = key_value(sequence);
            Record {
                transactional: of.transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: of.producer_id,
                producer_epoch: of.epoch,
                timestamp_type: TimestampType::Creation,
                offset: i64::from(i),
                sequence,
                timestamp: 1_700_000_000_000 + i64::from(i),
                key,
                value: Some(value),
                headers: IndexMap::new(),
            }
        })
        .collect();
    let mut buffer = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buffer,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| format!("encode batch: {e}"))?;
    Ok(buffer.freeze())
}

impl wire::Client {
    /// Creates `topic` with `partitions` partitions, replication factor 1.
    pub fn create_topic(&mut self, topic: &str, partitions: i32) -> TestResult {
        let request = CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(topic_name(topic))
                    .with_num_partitions(partitions)
                    .with_replication_factor(1),
            ])
            .with_timeout_ms(CREATE_TIMEOUT_MS);
        let ResponseKind::CreateTopics(response) = self.exchange(
            ApiKey::CreateTopics,
            CREATE_TOPICS_VERSION,
            &RequestKind::CreateTopics(request),
        )?
        else {
            return Err("CreateTopics answered with another API".into());
        };
        let result = response.topics.first().ok_or("CreateTopics: no topic")?;
        if result.error_code != NONE {
            return Err(format!(
                "creating {topic}: error {} {:?}",
                result.error_code, result.error_message
            )
            .into());
        }
        Ok(())
    }

    /// Produces `batch` to partition 0 of `topic` with acks=all, at `version`, as
    /// `transactional_id` if given; the partition's answer.
    pub fn produce_batch(
        &mut self,
        version: i16,
        topic: &str,
        transactional_id: Option<&str>,
        batch: Bytes,
    ) -> Result<PartitionProduceResponse, BoxError> {
        let request = ProduceRequest::default()
            .with_transactional_id(
                transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.to_string()))),
            )
            .with_acks(ACKS_ALL)
            .with_timeout_ms(PRODUCE_TIMEOUT_MS)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic_name(topic))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch)),
                    ]),
            ]);
        let ResponseKind::Produce(response) =
            self.exchange(ApiKey::Produce, version, &RequestKind::Produce(request))?
        else {
            return Err("Produce answered with another API".into());
        };
        let partition = response
            .responses
            .into_iter()
            .next()
            .and_then(|topic| topic.partition_responses.into_iter().next())
            .ok_or("Produce: no partition in the answer")?;
        if partition.index != 0 {
            return Err(format!("Produce answered for partition {}", partition.index).into());
        }
        Ok(partition)
    }

    /// The latest offset of partition 0 of `topic` at `isolation_level`: the log end offset
    /// ([`READ_UNCOMMITTED`]) or the last stable offset ([`READ_COMMITTED`]).
    pub fn latest_offset(&mut self, topic: &str, isolation_level: i8) -> Result<i64, BoxError> {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation_level)
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(LATEST_TIMESTAMP),
                    ]),
            ]);
        let ResponseKind::ListOffsets(response) = self.exchange(
            ApiKey::ListOffsets,
            LIST_OFFSETS_VERSION,
            &RequestKind::ListOffsets(request),
        )?
        else {
            return Err("ListOffsets answered with another API".into());
        };
        let partition = response
            .topics
            .first()
            .and_then(|topic| topic.partitions.first())
            .ok_or("ListOffsets: no partition in the answer")?;
        if partition.error_code != NONE {
            return Err(format!("ListOffsets: error {}", partition.error_code).into());
        }
        Ok(partition.offset)
    }
}
