//! Committed offsets and their log, `__consumer_offsets`: a commit is appended there as
//! Kafka's record, answered once durable (fsynced), and only then applied to the offset
//! store; on start the store is rebuilt by replaying the log. The log is the truth.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use vltava_group::{
    CommittedOffset, GroupError, GroupId, OFFSETS_TOPIC, OffsetsRecord, TopicPartition,
    decode_offsets_record, offset_key, offset_value, offsets_partition_for,
};

use super::GroupCoordinator;
use crate::broker::{Broker, METADATA_WAIT, now_ms};
use crate::error::{BrokerError, Result};
use crate::partition::Partition;
use crate::topics::{Topic, TopicSpec, Topics};

/// Bytes read per step while replaying a `__consumer_offsets` partition on start.
const LOAD_READ_BYTES: usize = 1024 * 1024;
/// Kafka's `offsets.topic.replication.factor` default.
const OFFSETS_TOPIC_REPLICATION_FACTOR: i16 = 3;
/// Kafka's `offsets.topic.segment.bytes`: small segments so compaction (when it comes) can
/// clean most of the log.
const OFFSETS_SEGMENT_BYTES: &str = "104857600";

/// One partition's commit, as the OffsetCommit handler hands it over.
#[derive(Debug, Clone)]
pub struct OffsetCommit {
    pub partition: TopicPartition,
    pub committed: CommittedOffset,
}

impl GroupCoordinator {
    /// Takes over the groups of the `__consumer_offsets` partitions this broker leads in the
    /// published image and hands over those of partitions it no longer leads (Kafka's
    /// `onElection` / `onResignation`). A partition newly led is replayed up to its log end
    /// (all of it becomes committed under this leader) before its groups are served: until
    /// then they are COORDINATOR_LOAD_IN_PROGRESS. Called before serving and after each
    /// publication.
    pub fn follow_leadership(&self, topics: &Topics) -> Result<()> {
        let Some(topic) = topics.get(OFFSETS_TOPIC) else {
            return Ok(());
        };
        let led: BTreeSet<i32> = topic
            .partitions
            .iter()
            .filter(|p| topic.led_here(p.index).is_ok())
            .map(|p| p.index)
            .collect();
        let loaded = self.loaded_partitions();
        let count = topic.partition_count();
        let of = move |group_id: &GroupId| offsets_partition_for(group_id, count);
        for &resigned in loaded.difference(&led) {
            let mut inner = self.lock();
            inner.offsets.retain_groups(|g| of(g) != resigned);
            inner.coordinator.retain_groups(|g| of(g) != resigned);
            inner.parked.fail_moved(|g| of(g) == resigned);
            drop(inner);
            self.set_loaded(resigned, false);
            tracing::info!(
                partition = resigned,
                "handed over the groups of {OFFSETS_TOPIC}"
            );
        }
        for &elected in led.difference(&loaded) {
            let Some(partition) = topic.partition(elected) else {
                continue;
            };
            let mut inner = self.lock();
            inner.offsets.retain_groups(|g| of(g) != elected);
            // Members from an earlier tenure here are stale: they rejoin.
            inner.coordinator.retain_groups(|g| of(g) != elected);
            let (mut records, mut skipped) = (0usize, 0u64);
            // The last record of each group wins, as compaction would leave it.
            let mut groups = HashMap::new();
            skipped += replay(partition, |record, log_offset| {
                records += 1;
                match record {
                    OffsetsRecord::Offset {
                        group_id,
                        partition,
                        committed,
                    } => inner
                        .offsets
                        .apply(&group_id, partition, committed, log_offset),
                    OffsetsRecord::GroupMetadata { group_id, group } => {
                        groups.insert(group_id, group);
                    }
                }
            })?;
            let now_ms = self.now_ms();
            for (group_id, group) in groups {
                if let Some(group) = group {
                    inner.coordinator.restore_group(group_id, &group, now_ms);
                }
            }
            // Their sessions run from now: the timer task must see their deadlines.
            self.deadline_changed.notify_one();
            drop(inner);
            self.set_loaded(elected, true);
            tracing::info!(
                partition = elected,
                records,
                skipped,
                "loaded committed offsets and groups from {OFFSETS_TOPIC}"
            );
        }
        Ok(())
    }

    /// Appends the commits and applies them once durable. Validation of the committer and of
    /// each partition is the caller's; this only writes.
    pub async fn commit(
        &self,
        broker: &Broker,
        group_id: &GroupId,
        commits: &[OffsetCommit],
    ) -> Result<()> {
        let records: Vec<(Bytes, Option<Bytes>)> = commits
            .iter()
            .map(|c| {
                (
                    offset_key(group_id, &c.partition),
                    Some(offset_value(&c.committed)),
                )
            })
            .collect();
        let base_offset = self.append_durably(broker, group_id, &records).await?;
        let mut inner = self.lock();
        for (log_offset, commit) in (base_offset..).zip(commits) {
            inner.offsets.apply(
                group_id,
                commit.partition.clone(),
                Some(commit.committed.clone()),
                log_offset,
            );
        }
        Ok(())
    }

    /// Writes a tombstone for each partition's committed offset.
    pub async fn delete_offsets(
        &self,
        broker: &Broker,
        group_id: &GroupId,
        partitions: &[TopicPartition],
    ) -> Result<()> {
        if partitions.is_empty() {
            return Ok(());
        }
        let records: Vec<(Bytes, Option<Bytes>)> = partitions
            .iter()
            .map(|p| (offset_key(group_id, p), None))
            .collect();
        let base_offset = self.append_durably(broker, group_id, &records).await?;
        let mut inner = self.lock();
        for (log_offset, partition) in (base_offset..).zip(partitions) {
            inner
                .offsets
                .apply(group_id, partition.clone(), None, log_offset);
        }
        Ok(())
    }

    /// DeleteGroups for one group: refused while it has members; otherwise its offsets are
    /// deleted (durably) and the coordinator forgets it.
    pub async fn delete_group(&self, broker: &Broker, group_id: &GroupId) -> Result<()> {
        self.coordinates(group_id)?;
        let partitions: Vec<TopicPartition> = {
            let mut inner = self.lock();
            let has_offsets = inner.offsets.has_offsets(group_id);
            let deleted = inner.coordinator.delete(std::slice::from_ref(group_id));
            match deleted.into_iter().next().map(|(_, result)| result) {
                Some(Ok(())) => {}
                Some(Err(GroupError::GroupIdNotFound)) if has_offsets => {}
                Some(Err(error)) => return Err(error.into()),
                None => return Err(GroupError::GroupIdNotFound.into()),
            }
            inner
                .offsets
                .group_offsets(group_id)
                .map(|(p, _)| p.clone())
                .collect()
        };
        self.delete_offsets(broker, group_id, &partitions).await
    }

    /// Deletes the offsets of empty groups committed longer ago than `offsets.retention.minutes`.
    pub async fn expire_offsets(&self, broker: &Broker) {
        let cutoff_ms = now_ms().saturating_sub(self.offsets_retention_ms);
        let expired = {
            let inner = self.lock();
            inner.offsets.expired(cutoff_ms, |group_id| {
                inner.coordinator.active_member_metadata(group_id).is_none()
            })
        };
        for (group_id, partition) in expired {
            if let Err(error) = self.delete_offsets(broker, &group_id, &[partition]).await {
                tracing::warn!(group = %group_id, %error, "cannot expire committed offsets");
                return;
            }
        }
    }

    /// Appends one batch of records to the group's `__consumer_offsets` partition and waits
    /// until it is durable; returns the offset of its first record.
    pub(super) async fn append_durably(
        &self,
        broker: &Broker,
        group_id: &GroupId,
        records: &[(Bytes, Option<Bytes>)],
    ) -> Result<i64> {
        let partition = self.offsets_partition(broker, group_id).await?;
        let batch = encode_batch(records, now_ms())?;
        let appended = partition.append(&batch, now_ms())?;
        broker.flusher.request(&partition);
        let timeout = Duration::from_millis(self.offsets_commit_timeout_ms);
        let durable = tokio::time::timeout(
            timeout,
            partition.await_high_watermark_past(appended.last_offset),
        )
        .await;
        match durable {
            Ok(crate::partition::Durability::Durable) => Ok(appended.base_offset),
            _ => Err(BrokerError::OffsetCommitTimedOut),
        }
    }

    /// The partition of `__consumer_offsets` that holds the group, creating the topic on
    /// first use as Kafka does.
    async fn offsets_partition(
        &self,
        broker: &Broker,
        group_id: &GroupId,
    ) -> Result<Arc<Partition>> {
        let topic = self.offsets_topic(broker).await?;
        super::group_partition(&topic, group_id).cloned()
    }

    /// `__consumer_offsets`, created on first use as Kafka does.
    pub async fn offsets_topic(&self, broker: &Broker) -> Result<Arc<Topic>> {
        let topic = match broker.topics.get(OFFSETS_TOPIC) {
            Some(topic) => topic,
            None => {
                let spec = TopicSpec {
                    name: OFFSETS_TOPIC.to_string(),
                    partitions: self.offsets_topic_partitions,
                    // Kafka's offsets.topic.replication.factor, 3, capped at the brokers there
                    // are (a single node's is 1).
                    replication_factor: OFFSETS_TOPIC_REPLICATION_FACTOR
                        .min(i16::try_from(broker.image().live_brokers().count()).unwrap_or(1))
                        .max(1),
                    configs: [
                        ("cleanup.policy".to_string(), "compact".to_string()),
                        (
                            "segment.bytes".to_string(),
                            OFFSETS_SEGMENT_BYTES.to_string(),
                        ),
                    ]
                    .into(),
                    assignments: Vec::new(),
                };
                match broker.create_topic(spec).await {
                    Err(BrokerError::TopicAlreadyExists) => {
                        broker.topics.wait_for(OFFSETS_TOPIC, METADATA_WAIT).await?
                    }
                    other => other?,
                }
            }
        };
        Ok(topic)
    }
}

fn encode_batch(records: &[(Bytes, Option<Bytes>)], now_ms: i64) -> Result<Bytes> {
    let records: Vec<Record> = (0..)
        .zip(records)
        .map(|(offset, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
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
    RecordBatchEncoder::encode(&mut batch, &records, &options).map_err(|e| {
        BrokerError::InvalidRequest(format!("cannot encode a {OFFSETS_TOPIC} batch: {e}"))
    })?;
    Ok(batch.freeze())
}

/// Calls `apply` with every record of the partition, in log order, with its offset; returns
/// how many records it skipped as unreadable. A record (or a whole batch) that cannot be
/// parsed is logged with its partition and offset and skipped, never fatal: Kafka skips
/// unknown record types since KIP-915, and one bad record must not keep the broker from
/// starting (a client could once write one with a single Produce).
fn replay(partition: &Partition, mut apply: impl FnMut(OffsetsRecord, i64)) -> Result<u64> {
    let skip = |offset: i64, reason: &dyn std::fmt::Display| {
        tracing::warn!(
            partition = partition.index,
            offset,
            %reason,
            "skipped an unreadable {OFFSETS_TOPIC} record"
        );
    };
    let mut skipped = 0u64;
    let mut offset = partition.offsets().log_start_offset;
    let end = partition.log_end_offset();
    while offset < end {
        let bytes = partition
            .read_for_follower(offset, LOAD_READ_BYTES, true)?
            .records;
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
                if record.control {
                    continue;
                }
                let decoded = match &record.key {
                    Some(key) => decode_offsets_record(key, record.value.as_deref())
                        .map_err(|e| e.to_string()),
                    None => Err("no key".to_string()),
                };
                match decoded {
                    Ok(decoded) => apply(decoded, record.offset),
                    Err(reason) => {
                        skip(record.offset, &reason);
                        skipped += 1;
                    }
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
