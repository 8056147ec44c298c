//! Committed offsets and their log, `__consumer_offsets`: a commit is appended there as
//! Kafka's record, answered once durable (fsynced), and only then applied to the offset
//! store; on start the store is rebuilt by replaying the log. The log is the truth.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use vltava_group::{
    CommittedOffset, GroupError, GroupId, GroupSnapshot, OFFSETS_TOPIC, OffsetsRecord,
    TopicPartition, decode_offsets_record, offset_key, offset_value, offsets_partition_for,
};

use super::GroupCoordinator;
use crate::broker::{Broker, now_ms};
use crate::control_batch::{self, ControlType};
use crate::error::{BrokerError, Result};
use crate::internal_topic::{self, BatchProducer, InternalTopic, encode_batch, replay};
use crate::partition::Partition;
use crate::topics::{Topic, Topics};

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
        let led = topic.led_partitions();
        let loaded = self.loaded_partitions();
        let count = topic.partition_count();
        let of = move |group_id: &GroupId| offsets_partition_for(group_id, count);
        for &resigned in loaded.difference(&led) {
            let mut inner = self.lock();
            inner.offsets.retain_groups(|g| of(g) != resigned);
            inner.retain_pending(|g| of(g) != resigned);
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
            inner.retain_pending(|g| of(g) != elected);
            // Members from an earlier tenure here are stale: they rejoin.
            inner.coordinator.retain_groups(|g| of(g) != elected);
            let mut records = 0usize;
            // The last record of each group wins, as compaction would leave it.
            let mut groups = HashMap::new();
            let skipped = replay(partition, |record| {
                records += 1;
                inner.replay(record, &mut groups)
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
        let records = commit_records(group_id, commits);
        let base_offset = self
            .append_durably(broker, group_id, &records, BatchProducer::NONE)
            .await?;
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

    /// TxnOffsetCommit: appends the commits as records of the producer's transaction. They
    /// become the group's offsets only when the transaction's COMMIT marker reaches the
    /// group's `__consumer_offsets` partition ([`Self::complete_transaction`]), and are
    /// dropped by an ABORT marker.
    pub async fn commit_transactional(
        &self,
        broker: &Broker,
        group_id: &GroupId,
        producer: (i64, i16),
        commits: &[OffsetCommit],
    ) -> Result<()> {
        let records = commit_records(group_id, commits);
        let (producer_id, producer_epoch) = producer;
        let batch_producer = BatchProducer {
            producer_id,
            producer_epoch,
            transactional: true,
            control: false,
        };
        let base_offset = self
            .append_durably(broker, group_id, &records, batch_producer)
            .await?;
        let mut inner = self.lock();
        for (log_offset, commit) in (base_offset..).zip(commits) {
            inner
                .pending_txn_offsets
                .entry(producer_id)
                .or_default()
                .push(PendingOffset {
                    group_id: group_id.clone(),
                    partition: commit.partition.clone(),
                    committed: commit.committed.clone(),
                    log_offset,
                });
        }
        Ok(())
    }

    /// A marker of `producer_id`'s transaction was written to a `__consumer_offsets`
    /// partition: its transactional offsets there take effect (COMMIT) or are dropped.
    pub fn complete_transaction(&self, partition: i32, producer_id: i64, marker: ControlType) {
        let count = self.offsets_topic_partitions;
        self.lock().complete_transaction(producer_id, marker, |g| {
            offsets_partition_for(g, count) == partition
        });
    }

    /// Whether an open transaction is about to change the group's offset of `partition`
    /// (OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending_transactional_offset(
        &self,
        group_id: &GroupId,
        partition: &TopicPartition,
    ) -> bool {
        self.lock()
            .pending_txn_offsets
            .values()
            .flatten()
            .any(|p| &p.group_id == group_id && &p.partition == partition)
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
        let base_offset = self
            .append_durably(broker, group_id, &records, BatchProducer::NONE)
            .await?;
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
        producer: BatchProducer,
    ) -> Result<i64> {
        let partition = self.offsets_partition(broker, group_id).await?;
        let batch = encode_batch(records, producer, now_ms())?;
        let timeout = Duration::from_millis(self.offsets_commit_timeout_ms);
        internal_topic::append_durably(
            broker,
            &partition,
            &batch,
            timeout,
            BrokerError::OffsetCommitTimedOut,
        )
        .await
        .map_err(|error| match error {
            BrokerError::NotLeaderOrFollower => BrokerError::OffsetCommitTimedOut,
            other => other,
        })
    }

    /// The partition of `__consumer_offsets` that holds the group, creating the topic on
    /// first use as Kafka does.
    pub async fn offsets_partition(
        &self,
        broker: &Broker,
        group_id: &GroupId,
    ) -> Result<Arc<Partition>> {
        let topic = self.offsets_topic(broker).await?;
        super::group_partition(&topic, group_id).cloned()
    }

    /// `__consumer_offsets`, created on first use as Kafka does.
    pub async fn offsets_topic(&self, broker: &Broker) -> Result<Arc<Topic>> {
        InternalTopic {
            name: OFFSETS_TOPIC,
            partitions: self.offsets_topic_partitions,
            min_insync_replicas: None,
        }
        .get_or_create(broker)
        .await
    }
}

fn commit_records(group_id: &GroupId, commits: &[OffsetCommit]) -> Vec<(Bytes, Option<Bytes>)> {
    commits
        .iter()
        .map(|c| {
            (
                offset_key(group_id, &c.partition),
                Some(offset_value(&c.committed)),
            )
        })
        .collect()
}

/// A transactional offset commit waiting for its transaction's marker.
#[derive(Debug, Clone)]
pub(super) struct PendingOffset {
    group_id: GroupId,
    partition: TopicPartition,
    committed: CommittedOffset,
    log_offset: i64,
}

impl super::Inner {
    /// Applies one record of `__consumer_offsets` read back from the log: plain commits at
    /// once; a transaction's commits when its marker follows (as Kafka's loader does).
    fn replay(
        &mut self,
        record: &kafka_protocol::records::Record,
        groups: &mut HashMap<GroupId, Option<GroupSnapshot>>,
    ) -> std::result::Result<(), String> {
        if record.control {
            let marker = record
                .key
                .as_deref()
                .and_then(control_batch::control_type)
                .ok_or("unreadable control record")?;
            self.complete_transaction(record.producer_id, marker, |_| true);
            return Ok(());
        }
        let key = record.key.as_deref().ok_or("no key")?;
        let decoded =
            decode_offsets_record(key, record.value.as_deref()).map_err(|e| e.to_string())?;
        if let OffsetsRecord::GroupMetadata { group_id, group } = decoded {
            groups.insert(group_id, group);
        } else if let OffsetsRecord::Offset {
            group_id,
            partition,
            committed,
        } = decoded
        {
            match (record.transactional, committed) {
                (true, Some(committed)) => {
                    let pending = PendingOffset {
                        group_id,
                        partition,
                        committed,
                        log_offset: record.offset,
                    };
                    self.pending_txn_offsets
                        .entry(record.producer_id)
                        .or_default()
                        .push(pending);
                }
                (_, committed) => {
                    self.offsets
                        .apply(&group_id, partition, committed, record.offset)
                }
            }
        }
        Ok(())
    }

    fn retain_pending(&mut self, keep: impl Fn(&GroupId) -> bool) {
        for pending in self.pending_txn_offsets.values_mut() {
            pending.retain(|p| keep(&p.group_id));
        }
        self.pending_txn_offsets
            .retain(|_, pending| !pending.is_empty());
    }

    /// Ends `producer_id`'s pending offsets of the groups `in_partition` selects.
    fn complete_transaction(
        &mut self,
        producer_id: i64,
        marker: ControlType,
        in_partition: impl Fn(&GroupId) -> bool,
    ) {
        let Some(pending) = self.pending_txn_offsets.remove(&producer_id) else {
            return;
        };
        let (ended, kept): (Vec<PendingOffset>, Vec<PendingOffset>) =
            pending.into_iter().partition(|p| in_partition(&p.group_id));
        if !kept.is_empty() {
            self.pending_txn_offsets.insert(producer_id, kept);
        }
        if marker == ControlType::Commit {
            for p in ended {
                self.offsets
                    .apply(&p.group_id, p.partition, Some(p.committed), p.log_offset);
            }
        }
    }
}
