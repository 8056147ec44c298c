//! What the coordinators share about the internal topics that hold their state
//! (`__consumer_offsets`, `__transaction_state`): creating one on first use, appending a batch
//! of the broker's own records and waiting until it is durable, and replaying a partition in
//! log order when its leadership moves here.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::broker::{Broker, METADATA_WAIT, now_ms};
use crate::error::{BrokerError, Result};
use crate::partition::{Durability, Partition};
use crate::topics::{Topic, TopicSpec};

/// Bytes read per step while replaying a partition on taking it over.
const LOAD_READ_BYTES: usize = 1024 * 1024;
/// Kafka's `offsets.topic.replication.factor` and `transaction.state.log.replication.factor`.
const REPLICATION_FACTOR: i16 = 3;
/// Kafka's `offsets.topic.segment.bytes` / `transaction.state.log.segment.bytes`: small
/// segments so compaction can clean most of the log.
const SEGMENT_BYTES: &str = "104857600";

/// An internal topic as its coordinator creates it.
#[derive(Debug, Clone, Copy)]
pub struct InternalTopic {
    pub name: &'static str,
    pub partitions: i32,
    /// The topic's `min.insync.replicas`, if it sets one (capped at its replication factor).
    pub min_insync_replicas: Option<i16>,
}

impl InternalTopic {
    /// The topic, created on first use as Kafka does, compacted, with a replication factor of
    /// 3 capped at the live brokers (a single node's is 1).
    pub async fn get_or_create(&self, broker: &Broker) -> Result<Arc<Topic>> {
        if let Some(topic) = broker.topics.get(self.name) {
            return Ok(topic);
        }
        let replication_factor = REPLICATION_FACTOR
            .min(i16::try_from(broker.image().live_brokers().count()).unwrap_or(1))
            .max(1);
        let mut configs: std::collections::BTreeMap<String, String> = [
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), SEGMENT_BYTES.to_string()),
        ]
        .into();
        if let Some(min_isr) = self.min_insync_replicas {
            configs.insert(
                "min.insync.replicas".to_string(),
                min_isr.min(replication_factor).to_string(),
            );
        }
        let spec = TopicSpec {
            name: self.name.to_string(),
            partitions: self.partitions,
            replication_factor,
            configs: configs.into_iter().collect(),
            assignments: Vec::new(),
        };
        match broker.create_topic(spec).await {
            Err(BrokerError::TopicAlreadyExists) => {
                broker.topics.wait_for(self.name, METADATA_WAIT).await
            }
            other => other,
        }
    }
}

/// Appends `batch` to `partition` and waits until it is durable (its high watermark passed
/// it), at most `timeout`; the offset of its first record. `timed_out` is the error then.
pub async fn append_durably(
    broker: &Broker,
    partition: &Arc<Partition>,
    batch: &[u8],
    timeout: Duration,
    timed_out: BrokerError,
) -> Result<i64> {
    let appended = partition.append(batch, now_ms())?;
    broker.flusher.request(partition);
    let durable = tokio::time::timeout(
        timeout,
        partition.await_high_watermark_past(appended.last_offset),
    )
    .await;
    match durable {
        Ok(Durability::Durable) => Ok(appended.base_offset),
        Ok(Durability::NotLeader) => Err(BrokerError::NotLeaderOrFollower),
        _ => Err(timed_out),
    }
}

/// The producer of a batch the broker writes: none for plain records; a transactional
/// producer's id and epoch for TxnOffsetCommit's offsets and for markers.
#[derive(Debug, Clone, Copy)]
pub struct BatchProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transactional: bool,
    pub control: bool,
}

impl BatchProducer {
    pub const NONE: BatchProducer = BatchProducer {
        producer_id: -1,
        producer_epoch: -1,
        transactional: false,
        control: false,
    };
}

/// One uncompressed batch of `records` (key, value) stamped `now_ms`.
pub fn encode_batch(
    records: &[(Bytes, Option<Bytes>)],
    producer: BatchProducer,
    now_ms: i64,
) -> Result<Bytes> {
    let records: Vec<Record> = (0..)
        .zip(records)
        .map(|(offset, (key, value))| Record {
            transactional: producer.transactional,
            control: producer.control,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp: now_ms,
            key: Some(key.clone()),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut batch = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut batch, &records, &options)
        .map_err(|e| BrokerError::InvalidRequest(format!("cannot encode a batch: {e}")))?;
    Ok(batch.freeze())
}

/// Calls `apply` with every record of the partition (control records included), in log
/// order; returns how many records it skipped as unreadable. A batch that cannot be decoded,
/// or a record `apply` refuses, is logged with its partition and offset and skipped, never
/// fatal: Kafka skips unknown record types since KIP-915, and one bad record must not keep
/// the broker from starting.
pub fn replay(
    partition: &Partition,
    mut apply: impl FnMut(&Record) -> std::result::Result<(), String>,
) -> Result<u64> {
    let skip = |offset: i64, reason: &dyn std::fmt::Display| {
        tracing::warn!(
            topic = %partition.topic,
            partition = partition.index,
            offset,
            %reason,
            "skipped an unreadable record of an internal topic"
        );
    };
    let mut skipped = 0u64;
    let mut offset = partition.offsets().log_start_offset;
    let end = partition.log_end_offset();
    while offset < end {
        let fetched = partition.read_for_follower(offset, LOAD_READ_BYTES, true)?;
        let bytes = partition.read_bytes(&fetched.records)?;
        let start = offset;
        // Batch by batch, so that one that cannot be decoded costs only its own records.
        // Continue after each batch's last offset, not its last record's: log compaction
        // removes records (and whole batches), leaving gaps that must be stepped over.
        let mut at = 0;
        while let Ok(header) = vltava_storage::BatchHeader::parse(&bytes[at.min(bytes.len())..]) {
            let Some(mut batch) = bytes
                .get(at..at + header.total_size())
                .map(|b| bytes.slice_ref(b))
            else {
                break;
            };
            offset = offset.max(header.last_offset() + 1);
            at += header.total_size();
            let records = match RecordBatchDecoder::decode_all(&mut batch) {
                Ok(batches) => batches.into_iter().flat_map(|b| b.records),
                Err(error) => {
                    skip(header.base_offset, &error);
                    skipped += u64::try_from(header.records_count).unwrap_or(0);
                    continue;
                }
            };
            for record in records {
                if let Err(reason) = apply(&record) {
                    skip(record.offset, &reason);
                    skipped += 1;
                }
            }
        }
        if offset == start {
            // An empty read: nothing more can be learnt here.
            break;
        }
    }
    Ok(skipped)
}
