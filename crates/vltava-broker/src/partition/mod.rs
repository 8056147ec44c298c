//! One partition of a topic on this broker: its log, its producer state and its high watermark.
//!
//! Thread-safety: the log and the producer state sit behind one mutex, held for the append
//! itself (one write syscall) and never across an fsync or a read of record bytes. The high
//! watermark is published on a watch channel so that acks=all producers and long-polling
//! fetches wait for it without polling.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;
use vltava_cluster::image::PartitionRegistration;
use vltava_cluster::records::BrokerId;
use vltava_storage::batch::BatchHeader;
use vltava_storage::records::{first_record_at, first_record_at_or_after};
use vltava_storage::{AppendOptions, FlushScope, Log, ReadSlice};

use crate::config::FlushPolicy;
use crate::control_batch::{ControlType, batch_control_type};
use crate::error::{BrokerError, Result};
use crate::log_dir::LogDirHealth;
use crate::producer_state::{ActiveProducer, ProducerStateTable, SequenceCheck};
use crate::replication::replica_set::ReplicaSet;

mod replica;
mod transactions;

use transactions::TxnTable;
pub use transactions::{AbortedTxn, OpenTxn};

#[derive(Debug)]
struct PartitionState {
    log: Log,
    producers: ProducerStateTable,
    /// Open and aborted transactions: the last stable offset and read_committed fetches.
    txns: TxnTable,
}

#[derive(Debug)]
pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    flush: FlushPolicy,
    state: Mutex<PartitionState>,
    /// Offsets below it are visible to consumers: durable under `FlushPolicy::Always`.
    high_watermark: watch::Sender<i64>,
    /// Set while the partition waits in the flusher's queue, so it is queued once.
    flush_queued: AtomicBool,
    /// The log directory, shared with every partition on it: offline after any I/O failure.
    log_dir: Arc<LogDirHealth>,
    /// Set before DeleteTopics removes the directory: I/O errors from work still running on
    /// the partition (a retention checkpoint into the removed directory) are not a failing
    /// disk, and must not take the log directory offline.
    deleted: AtomicBool,
    /// The leader epoch of the metadata image last published: stamped on appended batches,
    /// and what requests naming the epoch they saw are checked against (KIP-320).
    leader_epoch: AtomicI32,
    /// The replicas, ISR and (on the leader) the followers' durable offsets. Never held while
    /// `state` is taken.
    replicas: Mutex<ReplicaSet>,
    /// The log end offset, for follower fetches waiting for new data.
    log_end: watch::Sender<i64>,
    /// Whether this broker leads and the ISR is big enough: acks=all waits end when it changes.
    role: watch::Sender<Role>,
}

/// What an acks=all write waiting for the high watermark must know of the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub leads: bool,
    pub below_min_isr: bool,
}

/// How a wait for an append to become durable ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The high watermark passed it: fsynced under `FlushPolicy::Always`.
    Durable,
    /// The log directory went offline (a failed write or fsync): it may never be.
    LogDirOffline,
    /// The partition went away (deleted).
    Gone,
    /// Another broker leads the partition now (NOT_LEADER_OR_FOLLOWER).
    NotLeader,
    /// The ISR shrank below min.insync.replicas after the append
    /// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    NotEnoughReplicas,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_start_offset: i64,
    /// The broker time the batches were stamped with under LogAppendTime, else -1.
    pub log_append_time_ms: i64,
    /// True when the batch was a retry already in the log; nothing was written.
    pub duplicate: bool,
}

/// Record bytes found for a fetch, with the offsets the response reports beside them. The
/// bytes stay in the segment file until the response is written (see server/send_file.rs).
#[derive(Debug)]
pub struct Fetched {
    pub records: ReadSlice,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// Offsets below it hold no open transaction's records (at most the high watermark).
    pub last_stable_offset: i64,
    /// For a read_committed read: the aborted transactions with records in what was read
    /// (up to the last stable offset).
    pub aborted: Vec<AbortedTxn>,
}

/// How far a read may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBound {
    /// A consumer reading uncommitted: the high watermark.
    HighWatermark,
    /// A read_committed consumer: the last stable offset.
    LastStable,
    /// A follower: the log end.
    LogEnd,
}

/// The offsets of a partition at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Offsets {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
}

impl Partition {
    pub fn new(
        topic: Arc<str>,
        index: i32,
        log: Log,
        flush: FlushPolicy,
        log_dir: Arc<LogDirHealth>,
        opened_at_ms: i64,
    ) -> Result<Self> {
        let mut producers = ProducerStateTable::default();
        let mut txns = TxnTable::default();
        rebuild_producer_state(&log, &mut producers, &mut txns, opened_at_ms)?;
        // Recovery leaves only durable data in the log, so all of it is visible (on one
        // replica; a replicated partition's first image lowers it, see `set_registration`).
        let log_end_offset = log.log_end_offset();
        let high_watermark = watch::Sender::new(log_end_offset);
        Ok(Partition {
            topic,
            index,
            flush,
            state: Mutex::new(PartitionState {
                log,
                producers,
                txns,
            }),
            high_watermark,
            flush_queued: AtomicBool::new(false),
            log_dir,
            deleted: AtomicBool::new(false),
            leader_epoch: AtomicI32::new(0),
            replicas: Mutex::new(ReplicaSet::new(log_end_offset)),
            log_end: watch::Sender::new(log_end_offset),
            role: watch::Sender::new(Role {
                leads: true,
                below_min_isr: false,
            }),
        })
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Set when a metadata image is published: the replicas, ISR, leader and leader epoch.
    /// The leader starts its epoch in the log's leader epoch cache at the log end offset.
    ///
    /// A replicated partition's first image after a restart lowers the high watermark to the
    /// log start: the log may end with records that were never committed (a follower's
    /// uncommitted suffix, truncated when it fetches again); the leader's followers, or the
    /// follower's leader, bring it back up within a fetch.
    pub fn set_registration(
        &self,
        node_id: BrokerId,
        registration: &PartitionRegistration,
        min_insync_replicas: i32,
        now_ms: i64,
    ) {
        let leads = registration.leader == node_id;
        let (log_start_offset, log_end_offset) = {
            let mut state = self.state();
            if leads {
                state.log.assign_leader_epoch(registration.leader_epoch);
            }
            (state.log.log_start_offset(), state.log.log_end_offset())
        };
        self.leader_epoch
            .store(registration.leader_epoch, Ordering::Release);
        let mut replicas = self.replicas();
        if replicas.unplaced() && registration.replicas.len() > 1 {
            self.high_watermark
                .send_if_modified(|hw| lower(hw, log_start_offset));
        }
        replicas.update(
            node_id,
            registration,
            min_insync_replicas,
            log_end_offset,
            now_ms,
        );
        self.role.send_if_modified(|role| {
            let next = Role {
                leads,
                below_min_isr: replicas.below_min_isr(),
            };
            let changed = *role != next;
            *role = next;
            changed
        });
        self.advance_high_watermark(&replicas);
    }

    fn replicas(&self) -> MutexGuard<'_, ReplicaSet> {
        self.replicas.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the high watermark up to what the replicas allow (never down).
    fn advance_high_watermark(&self, replicas: &ReplicaSet) {
        if let Some(allowed) = replicas.high_watermark() {
            self.high_watermark
                .send_if_modified(|hw| advance(hw, allowed));
        }
    }

    /// Offsets below `offset` are durable here now.
    fn durable_to(&self, offset: i64) {
        let mut replicas = self.replicas();
        replicas.set_local_durable(offset);
        self.advance_high_watermark(&replicas);
    }

    /// acks=all is refused before the append while the ISR is below min.insync.replicas.
    pub fn check_enough_replicas(&self) -> Result<()> {
        match self.replicas().below_min_isr() {
            true => Err(BrokerError::NotEnoughReplicas),
            false => Ok(()),
        }
    }

    /// Marks the partition as being deleted, before its directory is removed.
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
    }

    /// Whether the partition's log directory went offline (a failed write or fsync).
    pub fn is_offline(&self) -> bool {
        self.log_dir.is_offline()
    }

    /// Refuses work once the log directory is offline, as Kafka does for an offline dir.
    fn check_log_dir(&self) -> Result<()> {
        if self.log_dir.is_offline() {
            let path = self.state().log.dir().to_path_buf();
            return Err(BrokerError::Storage(
                vltava_storage::StorageError::LogOffline { path },
            ));
        }
        Ok(())
    }

    /// Passes `result` on; a failed write or fsync in it takes the log directory offline,
    /// which answers every acks=all producer waiting on it.
    fn noting_io<T>(&self, result: Result<T>) -> Result<T> {
        if self.deleted.load(Ordering::Acquire) {
            return result;
        }
        if let Err(BrokerError::Storage(error)) = &result {
            let state = self.state();
            self.log_dir.note(error, state.log.dir());
        }
        result
    }

    fn state(&self) -> MutexGuard<'_, PartitionState> {
        // A panic while holding the lock cannot leave the log half-written (appends are one
        // write), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the record batches of one produce request for this partition.
    ///
    /// Idempotence is checked on the first batch: producers send one batch per partition per
    /// request, and a payload of several batches is recorded as one. The batches are
    /// validated (CRC, sizes, magic, timestamps) before the sequence is checked, as in Kafka:
    /// a corrupt retry of an appended batch is CORRUPT_MESSAGE, not a duplicate's success.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<Appended> {
        self.check_log_dir()?;
        let result = self.append_checked(records, now_ms);
        self.noting_io(result)
    }

    fn append_checked(&self, records: &[u8], now_ms: i64) -> Result<Appended> {
        let mut batches = records.to_vec();
        let first = BatchHeader::parse(&batches)?;
        let mut state = self.state();
        let validated = state.log.validate(&batches, now_ms)?;
        let log_start_offset = state.log.log_start_offset();
        if let SequenceCheck::Duplicate {
            first_offset,
            last_offset,
        } = state.producers.check(&first)?
        {
            return Ok(Appended {
                base_offset: first_offset,
                last_offset,
                log_start_offset,
                // Kafka answers a retry with the first append's max timestamp, which its producer
                // state keeps; ours keeps offsets only, so a retry reports none.
                log_append_time_ms: -1,
                duplicate: true,
            });
        }
        let options = AppendOptions {
            leader_epoch: self.leader_epoch(),
            now_ms,
        };
        let info = state
            .log
            .append_validated(&mut batches, validated, options)?;
        state
            .producers
            .record(&first, info.base_offset, info.last_offset, now_ms);
        observe_transactions(&mut state, &batches, now_ms)?;
        self.log_end.send_replace(info.last_offset + 1);
        if self.flush == FlushPolicy::Never {
            self.durable_to(info.last_offset + 1);
        }
        Ok(Appended {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            log_start_offset: state.log.log_start_offset(),
            log_append_time_ms: info.log_append_time_ms,
            duplicate: false,
        })
    }

    /// Reads whole batches from `offset`, never past the high watermark.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<Fetched> {
        self.read_to(offset, max_bytes, min_one_batch, ReadBound::HighWatermark)
    }

    /// Reads whole batches from `offset`, never past `bound`.
    pub fn read_to(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        bound: ReadBound,
    ) -> Result<Fetched> {
        self.check_log_dir()?;
        let result = self.read_checked(offset, max_bytes, min_one_batch, bound);
        self.noting_io(result)
    }

    /// Reads whole batches from `offset` up to the log end: what a follower copies.
    pub fn read_for_follower(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Fetched> {
        self.read_to(offset, max_bytes, min_one_batch, ReadBound::LogEnd)
    }

    /// The bytes of a slice this partition's read returned, read into memory (an I/O error
    /// counts against the log directory, as any read's).
    pub fn read_bytes(&self, slice: &ReadSlice) -> Result<Bytes> {
        let result = slice.read().map_err(BrokerError::from);
        self.noting_io(result)
    }

    fn read_checked(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        bound: ReadBound,
    ) -> Result<Fetched> {
        let (slice, high_watermark, log_start_offset, last_stable_offset, aborted) = {
            let state = self.state();
            let high_watermark = *self.high_watermark.borrow();
            let last_stable_offset = last_stable(&state, high_watermark);
            let end = match bound {
                ReadBound::LogEnd => state.log.log_end_offset(),
                ReadBound::HighWatermark => high_watermark,
                ReadBound::LastStable => last_stable_offset,
            };
            let slice: ReadSlice = state.log.read(offset, end, max_bytes, min_one_batch)?;
            let aborted = match bound {
                ReadBound::LastStable => state.txns.aborted_between(offset, end),
                _ => Vec::new(),
            };
            let log_start_offset = state.log.log_start_offset();
            (
                slice,
                high_watermark,
                log_start_offset,
                last_stable_offset,
                aborted,
            )
        };
        // The bytes are read (or sent from the file) outside the lock, when the response is
        // written; a segment deleted meanwhile stays readable through the slice's open handle.
        Ok(Fetched {
            records: slice,
            high_watermark,
            log_start_offset,
            last_stable_offset,
            aborted,
        })
    }

    pub fn offsets(&self) -> Offsets {
        let state = self.state();
        Offsets {
            log_start_offset: state.log.log_start_offset(),
            high_watermark: *self.high_watermark.borrow(),
            log_end_offset: state.log.log_end_offset(),
        }
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// The last stable offset: below it no record belongs to an open transaction, and it is
    /// never above the high watermark (what read_committed consumers may read).
    pub fn last_stable_offset(&self) -> i64 {
        let high_watermark = self.high_watermark();
        last_stable(&self.state(), high_watermark)
    }

    /// Transactions open in this partition (DescribeProducers).
    pub fn open_transactions(&self) -> Vec<OpenTxn> {
        self.state().txns.open()
    }

    /// A receiver that wakes whenever the high watermark moves.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// A receiver that wakes whenever the log end offset moves (follower fetches wait on it).
    pub fn watch_log_end(&self) -> watch::Receiver<i64> {
        self.log_end.subscribe()
    }

    /// Waits until the high watermark passes `offset`, i.e. the record there is durable
    /// (fsynced on the in-sync replicas), or until the log directory goes offline, another
    /// broker takes the lead, or the ISR shrinks below min.insync.replicas.
    pub async fn await_high_watermark_past(&self, offset: i64) -> Durability {
        let mut high_watermark = self.watch_high_watermark();
        let mut role = self.role.subscribe();
        tokio::select! {
            // Durable wins a tie: the fsync did succeed.
            biased;
            passed = high_watermark.wait_for(|hw| *hw > offset) => match passed {
                Ok(_) => Durability::Durable,
                Err(_) => Durability::Gone,
            },
            () = self.log_dir.wait_offline() => Durability::LogDirOffline,
            changed = role.wait_for(|r| !r.leads || r.below_min_isr) => match changed {
                Ok(role) if !role.leads => Durability::NotLeader,
                Ok(_) => Durability::NotEnoughReplicas,
                Err(_) => Durability::Gone,
            },
        }
    }

    /// `(epoch, end offset)` of the largest leader epoch at or below `epoch` in this log
    /// (OffsetForLeaderEpoch); `(-1, -1)` when the log has none.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Result<(i32, i64)> {
        Ok(self.state().log.end_offset_for_epoch(epoch)?)
    }

    /// `(offset, timestamp)` of the first record with a timestamp at or after `timestamp`
    /// (ListOffsets by time): the time index finds the batch, the batch's records the record.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        let high_watermark = self.high_watermark();
        let slice = {
            let state = self.state();
            match state.log.offset_for_timestamp(timestamp)? {
                Some((offset, _)) if offset < high_watermark => {
                    state.log.read(offset, high_watermark, 1, true)?
                }
                _ => return Ok(None),
            }
        };
        let batch = slice.read()?;
        Ok(first_record_at_or_after(&batch, timestamp)
            .filter(|stamp| stamp.offset < high_watermark)
            .map(|stamp| (stamp.offset, stamp.timestamp)))
    }

    /// ListOffsets MAX_TIMESTAMP (KIP-734): the largest timestamp below the high watermark
    /// and the offset of the first record carrying it, as (offset, timestamp). The log knows
    /// the batch; its records (decompressed if need be) name the record, as in Kafka.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        let high_watermark = self.high_watermark();
        let (slice, batch_offset, timestamp) = {
            let state = self.state();
            match state.log.max_timestamp() {
                Some((offset, timestamp)) if offset < high_watermark => (
                    state.log.read(offset, high_watermark, 1, true)?,
                    offset,
                    timestamp,
                ),
                _ => return Ok(None),
            }
        };
        let batch = slice.read()?;
        // Records that do not decode leave the batch's answer, which the log vouches for; a
        // record below the log start offset (DeleteRecords inside the batch) is gone.
        let offset = first_record_at(&batch, timestamp)
            .map_or(batch_offset, |stamp| stamp.offset.max(batch_offset));
        Ok((offset < high_watermark).then_some((offset, timestamp)))
    }

    /// fsyncs what was appended and moves the high watermark over it. Called by the flusher
    /// only; the lock is released during the fsync so producers keep appending (group commit).
    /// Only the log's bytes: their index entries are synced by the periodic full flush.
    /// The offsets the fsync made durable (0 when there was nothing to sync): one group commit.
    pub fn flush(&self) -> Result<i64> {
        self.sync(FlushScope::Data)
    }

    fn sync(&self, scope: FlushScope) -> Result<i64> {
        self.check_log_dir()?;
        let result = self.sync_checked(scope);
        self.noting_io(result)
    }

    fn sync_checked(&self, scope: FlushScope) -> Result<i64> {
        let (pending, durable_before) = {
            let mut state = self.state();
            let durable_before = state.log.durable_offset();
            match state.log.prepare_flush(scope)? {
                Some(pending) => (pending, durable_before),
                None => return Ok(0),
            }
        };
        pending.sync()?;
        // Under the lock, so that a truncation cannot come between the flush's completion
        // and the durable offset it reports (a flush prepared before a truncation is ignored).
        let mut state = self.state();
        state.log.complete_flush(pending);
        let durable = state.log.durable_offset();
        if self.flush == FlushPolicy::Always {
            self.durable_to(durable);
        }
        Ok((durable - durable_before).max(0))
    }

    /// Flushes and records the recovery point, so the next start scans nothing: for shutdown.
    pub fn flush_and_checkpoint(&self) -> Result<()> {
        self.sync(FlushScope::Full)?;
        let pending = self.state().log.prepare_checkpoint()?;
        let result = pending.write().map_err(BrokerError::from);
        self.noting_io(result)
    }

    /// Marks the partition as queued for flushing; false if it already was.
    pub fn mark_flush_queued(&self) -> bool {
        !self.flush_queued.swap(true, Ordering::AcqRel)
    }

    pub fn clear_flush_queued(&self) {
        self.flush_queued.store(false, Ordering::Release);
    }

    pub fn needs_flush(&self) -> bool {
        self.flush == FlushPolicy::Always
    }

    /// Forgets idempotent producers silent for `expiration_ms`; how many.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.state().producers.expire(now_ms, expiration_ms)
    }

    /// Retention and time-based segment rolls; returns the segments deleted.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize> {
        // The full flush moves the recovery point (bounding the scan on open after a crash)
        // and lets the cleaner, which works below it, reach the latest closed segments.
        self.sync(FlushScope::Full)?;
        // Planned under the lock, made durable outside it: the checkpoint's fsyncs (which
        // also persist the recovery point, sparing a scan of older segments on restart) and
        // the file removals never hold up appends.
        let pending = {
            let mut state = self.state();
            state.log.roll_if_due(now_ms)?;
            let pending = state.log.prepare_retention(now_ms)?;
            // Aborted transactions wholly below the new log start concern no fetch any more.
            let log_start_offset = state.log.log_start_offset();
            state.txns.drop_before(log_start_offset);
            pending
        };
        let result = pending.complete().map_err(BrokerError::from);
        self.noting_io(result)
    }

    /// Log compaction, when the topic's cleanup.policy has `compact` and the log is due (see
    /// `vltava_storage::Log::prepare_clean`). The lock is held to plan the clean and to swap
    /// the cleaned segments in, not while segments are read and filtered, so appends and
    /// fetches go on meanwhile.
    pub fn clean(&self, now_ms: i64) -> Result<vltava_storage::CleanStats> {
        let options = vltava_storage::CleanOptions::default();
        let Some(prepared) = self.state().log.prepare_clean(now_ms, options)? else {
            return Ok(vltava_storage::CleanStats::default());
        };
        let cleaned = prepared.run()?;
        Ok(self.state().log.complete_clean(cleaned)?)
    }

    /// Applies new topic configs to the log (retention, segment size, message size...).
    pub fn set_log_config(&self, config: vltava_storage::LogConfig) {
        self.state().log.set_config(config);
    }

    /// Moves the log start offset up to `offset` (DeleteRecords) and returns the log start
    /// offset after the move: the low watermark. Never past the high watermark, so only
    /// records consumers could already see are deleted; an offset at or below the current
    /// start changes nothing. Durable when this returns: the checkpoint is fsynced under the
    /// lock, like retention's, which is acceptable for an admin operation.
    pub fn advance_log_start_offset(&self, offset: i64) -> Result<i64> {
        // The high watermark only grows, so checking it before taking the lock is safe.
        let high_watermark = self.high_watermark();
        if offset < 0 || offset > high_watermark {
            return Err(BrokerError::LogStartOffsetOutOfRange {
                requested: offset,
                high_watermark,
            });
        }
        let mut state = self.state();
        state.log.set_log_start_offset(offset)?;
        let log_start_offset = state.log.log_start_offset();
        state.txns.drop_before(log_start_offset);
        Ok(log_start_offset)
    }

    /// Whether the log's `cleanup.policy` includes `delete`: only then may records be deleted
    /// (DeleteRecords), as in Kafka; a compacted log keeps the latest value of every key.
    pub fn deletes_records(&self) -> bool {
        self.state().log.config().cleanup_policy.delete
    }

    /// Bytes of the partition's log files (DescribeLogDirs), indexes excluded as in Kafka.
    pub fn size_bytes(&self) -> u64 {
        self.state().log.size_bytes()
    }

    /// The idempotent producers this partition has state for (DescribeProducers).
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        self.state().producers.active()
    }

    /// Removes the partition's directory. The partition must no longer be reachable.
    pub fn delete(self) -> Result<()> {
        let state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(state.log.delete()?)
    }
}

fn lower(high_watermark: &mut i64, to: i64) -> bool {
    if to < *high_watermark {
        *high_watermark = to;
        true
    } else {
        false
    }
}

fn advance(high_watermark: &mut i64, to: i64) -> bool {
    if to > *high_watermark {
        *high_watermark = to;
        true
    } else {
        false
    }
}

/// Replays the batch headers in the log so that a restarted broker still recognises retries
/// and sequence gaps of idempotent producers. Reads headers only, never records.
/// Every rebuilt producer counts as last seen at `opened_at_ms`, so a restart never expires one
/// earlier than the broker that wrote its batches would have.
fn rebuild_producer_state(
    log: &Log,
    producers: &mut ProducerStateTable,
    txns: &mut TxnTable,
    opened_at_ms: i64,
) -> Result<()> {
    let mut transactional = Vec::new();
    log.for_each_batch_header(|header| {
        producers.record(
            header,
            header.base_offset,
            header.last_offset(),
            opened_at_ms,
        );
        if header.is_transactional() {
            transactional.push(*header);
        }
    })?;
    // Markers are read whole for their type (COMMIT or ABORT); they are few, one per
    // transaction and partition.
    for header in &transactional {
        let marker = match header.is_control() {
            true => {
                let slice = log.read(header.base_offset, log.log_end_offset(), 1, true)?;
                let bytes = slice.read()?;
                producers.fence_epoch(header.producer_id, header.producer_epoch, opened_at_ms);
                batch_control_type(&bytes)
            }
            false => None,
        };
        txns.observe(header, marker);
    }
    txns.drop_before(log.log_start_offset());
    Ok(())
}

fn last_stable(state: &PartitionState, high_watermark: i64) -> i64 {
    state
        .txns
        .first_unstable_offset()
        .map_or(high_watermark, |first| first.min(high_watermark))
}

/// Takes the transactional batches of `batches` (just appended, their offsets assigned) into
/// the partition's transactions; a marker also fences older epochs of its producer.
fn observe_transactions(state: &mut PartitionState, batches: &[u8], now_ms: i64) -> Result<()> {
    let mut at = 0;
    while at < batches.len() {
        let header = BatchHeader::parse(&batches[at..])?;
        let whole = batches
            .get(at..at + header.total_size())
            .unwrap_or_default();
        at += header.total_size();
        if !header.is_transactional() {
            continue;
        }
        let marker: Option<ControlType> = match header.is_control() {
            true => {
                state
                    .producers
                    .fence_epoch(header.producer_id, header.producer_epoch, now_ms);
                batch_control_type(whole)
            }
            false => None,
        };
        state.txns.observe(&header, marker);
    }
    Ok(())
}

/// Guards against retention holding the partition lock across the fsyncs of its checkpoint
/// (appends, on tokio workers, then waited for the disk, although the lock is documented as
/// never held across an fsync), and against a failed fsync leaving acks=all waiters waiting
/// until their timeout instead of answering them at once.
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;
    use std::sync::mpsc;
    use std::time::Duration;

    use vltava_storage::sim_fs::SyncGate;
    use vltava_storage::{LogConfig, SimFs, TestBatch};

    use super::*;

    const NOW_MS: i64 = 1_000_000;
    /// Generous: the append takes microseconds once it is not blocked.
    const WAIT: Duration = Duration::from_secs(10);

    /// Opens the gate when dropped, so that a failed assertion does not leave threads stuck.
    struct OpenOnDrop(Arc<SyncGate>);

    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    #[test]
    fn an_append_completes_while_retention_waits_for_its_fsync() {
        let fs = SimFs::new();
        let dir = Path::new("/retention-0");
        let log = Log::open(Arc::new(fs.clone()), dir, LogConfig::default(), NOW_MS).unwrap();
        let partition = Arc::new(
            Partition::new("t".into(), 0, log, FlushPolicy::Always, Arc::default(), 0).unwrap(),
        );
        let batch = TestBatch::new(1, NOW_MS, b"record").encode();
        partition.append(&batch, NOW_MS).unwrap();
        // Everything durable, so that the only fsyncs left to retention are its checkpoint's.
        partition.flush_and_checkpoint().unwrap();

        let gate = OpenOnDrop(fs.hold_syncs());
        let retention = {
            let partition = partition.clone();
            std::thread::spawn(move || partition.apply_retention(NOW_MS))
        };
        assert!(gate.0.wait_for_held_sync(WAIT), "retention never fsynced");
        let (appended, append_result) = mpsc::channel();
        let appender = {
            let partition = partition.clone();
            std::thread::spawn(move || appended.send(partition.append(&batch, NOW_MS)))
        };
        let append = append_result.recv_timeout(WAIT);
        drop(gate);

        let append = append.expect("the append waited for retention's fsync");
        assert_eq!(append.unwrap().base_offset, 1);
        assert_eq!(retention.join().unwrap().unwrap(), 0);
        appender.join().unwrap().unwrap();
        // The checkpoint covers what was synced before, not the append made during it.
        let offsets = partition.offsets();
        assert_eq!(offsets.log_end_offset, 2);
        assert_eq!(partition.high_watermark(), 1);
    }

    /// A partition `/<name>` on `fs`, sharing `log_dir`'s health with its neighbours.
    fn open_in(fs: &SimFs, log_dir: &Arc<LogDirHealth>, name: &str) -> Partition {
        let dir = Path::new("/").join(name);
        let log = Log::open(Arc::new(fs.clone()), &dir, LogConfig::default(), NOW_MS).unwrap();
        Partition::new("t".into(), 0, log, FlushPolicy::Always, log_dir.clone(), 0).unwrap()
    }

    /// DeleteTopics removes a partition's directory while retention may still be writing its
    /// checkpoint there: that failure must not take the whole log directory offline (it did,
    /// and every produce to every topic then failed with KAFKA_STORAGE_ERROR).
    #[test]
    fn retention_on_a_deleted_partition_leaves_the_log_directory_online() {
        use vltava_storage::FileSystem;
        let fs = SimFs::new();
        let log_dir = Arc::new(LogDirHealth::default());
        let open = |name: &str| open_in(&fs, &log_dir, name);
        let (deleted, other) = (open("gone-0"), open("kept-0"));
        let batch = TestBatch::new(1, NOW_MS, b"record").encode();
        deleted.append(&batch, NOW_MS).unwrap();

        deleted.mark_deleted();
        fs.remove_dir_all(Path::new("/gone-0")).unwrap();
        let _ = deleted.apply_retention(NOW_MS);

        assert!(!log_dir.is_offline());
        other.append(&batch, NOW_MS).unwrap();
    }

    #[tokio::test]
    async fn a_failed_fsync_answers_durability_waiters_at_once() {
        let fs = SimFs::new();
        let log_dir = Arc::new(LogDirHealth::default());
        let open = |name: &str| open_in(&fs, &log_dir, name);
        let (failing, other) = (open("t-0"), open("t-1"));
        let batch = TestBatch::new(1, NOW_MS, b"record").encode();
        let appended = failing.append(&batch, NOW_MS).unwrap();

        fs.fail_next_sync();
        assert!(failing.flush().is_err());
        let durability = tokio::time::timeout(
            WAIT,
            failing.await_high_watermark_past(appended.last_offset),
        )
        .await;

        assert_eq!(durability, Ok(Durability::LogDirOffline));
        assert_eq!(
            failing.high_watermark(),
            0,
            "nothing unsynced became visible"
        );
        // The whole log directory is offline: the other partition refuses work too.
        assert_eq!(
            other.append(&batch, NOW_MS).unwrap_err().code(),
            kafka_protocol::error::ResponseError::KafkaStorageError.code()
        );
        assert!(other.read(0, 1024, true).is_err());
    }
}
