//! The partition log: segments in offset order, the last one active.
//!
//! Thread-safety: `Log` is not internally synchronised. The broker keeps it behind a mutex;
//! [`ReadSlice::read`] and [`PendingFlush::sync`] are the two pieces of work meant to run
//! outside that mutex.

use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use crate::batch::{BatchHeader, for_each_batch, set_base_offset, set_partition_leader_epoch};
use crate::checkpoint::{Checkpoint, CheckpointWriter, PendingCheckpoint};
use crate::config::{LogConfig, TimestampType};
use crate::error::{Result, StorageError, io_at};
use crate::flush::{FlushScope, PendingFlush};
use crate::fs::{FileSystem, LogFile};
use crate::leader_epochs::LeaderEpochs;
use crate::recovery;
use crate::segment::{SEGMENT_BYTES_MAX, Segment};
use crate::timestamps;

/// What the broker decides for an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOptions {
    /// Written into every batch's partitionLeaderEpoch.
    pub leader_epoch: i32,
    /// The broker's clock, for `segment.ms`.
    pub now_ms: i64,
}

/// Proof that [`Log::validate`] accepted a payload: what [`Log::append_validated`] needs of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validated {
    batch_count: usize,
    offset_count: i64,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// Largest batch max timestamp in the append.
    pub max_timestamp: i64,
    /// The broker time every batch was stamped with under LogAppendTime; -1 under CreateTime
    /// (Kafka's `log_append_time_ms` in the Produce response).
    pub log_append_time_ms: i64,
    pub batch_count: usize,
    pub bytes: usize,
}

/// Whole batches of one segment, to be read (outside the log's lock) and sent as they are,
/// either copied into memory ([`ReadSlice::read`]) or sent from the file by the caller
/// ([`ReadSlice::os_file`], sendfile).
///
/// The slice holds the segment's file open, so a segment deleted or replaced meanwhile
/// (retention, compaction, a roll) stays readable. Its range was computed under the log's lock
/// and ends at a batch boundary at or below the bound the read was given (high watermark, last
/// stable offset, log end): bytes there are never rewritten, except by a truncation, which
/// [`ReadSlice::unchanged`] detects.
#[derive(Debug, Clone)]
pub struct ReadSlice {
    file: Option<(PathBuf, Arc<dyn LogFile>)>,
    position: u64,
    len: usize,
    /// The file's truncation count when the range was computed.
    truncations: u64,
}

impl ReadSlice {
    /// No bytes.
    pub fn empty() -> ReadSlice {
        ReadSlice {
            file: None,
            position: 0,
            len: 0,
            truncations: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the bytes start in the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The segment file's path, for error messages.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }

    /// The operating system's file holding the bytes, if there are bytes and the file is a
    /// real one; valid for as long as the slice lives.
    pub fn os_file(&self) -> Option<BorrowedFd<'_>> {
        match &self.file {
            Some((_, file)) if self.len > 0 => file.os_file(),
            _ => None,
        }
    }

    /// Whether the range still holds the bytes it held when the slice was made: false once
    /// the file was truncated (a follower's divergence, recovery), after which the range may
    /// hold other records or none.
    pub fn unchanged(&self) -> bool {
        self.file
            .as_ref()
            .is_none_or(|(_, file)| file.truncations() == self.truncations)
    }

    /// The bytes. The range is immutable once written, so this needs no lock; a segment
    /// deleted meanwhile stays readable through the open handle.
    pub fn read(&self) -> Result<Bytes> {
        let Some((path, file)) = self.file.as_ref().filter(|_| self.len > 0) else {
            return Ok(Bytes::new());
        };
        let mut buf = vec![0u8; self.len];
        file.read_at(&mut buf, self.position).map_err(io_at(path))?;
        Ok(Bytes::from(buf))
    }
}

#[derive(Debug)]
pub struct Log {
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    /// In increasing offset order, never empty; the last is the active segment. Offsets are
    /// contiguous except where the log cleaner removed whole batches (gaps, as in Kafka);
    /// a cleaned segment may even be empty.
    pub(crate) segments: Vec<Segment>,
    pub(crate) log_start_offset: i64,
    /// Below this the log and its indexes are on disk: open trusts those segments unscanned.
    pub(crate) recovery_point: i64,
    /// Below this the log's bytes are on disk (what acks=all waits for); at or above the
    /// recovery point, because a data flush leaves the indexes, which open rebuilds.
    pub(crate) durable_offset: i64,
    /// Set by any failed write or fsync, also from a `PendingFlush` running outside the lock.
    failed: Arc<AtomicBool>,
    /// Every checkpoint write goes through it, under the lock or not.
    pub(crate) checkpoints: Arc<CheckpointWriter>,
    /// Segment creations so far, and how many of them a completed flush made durable.
    dir_changes: u64,
    dir_changes_synced: u64,
    /// What the log cleaner knows of this log (in memory; after a restart all is dirty).
    pub(crate) cleaner: crate::compaction::CleanerState,
    /// Where each leader epoch's data starts (durable before that data is appended).
    pub(crate) leader_epochs: LeaderEpochs,
    /// An epoch was assigned without data yet: written with its first batch (an entry lost
    /// before then is assigned again when this broker next takes the lead).
    leader_epochs_unwritten: bool,
    /// Truncations so far: flushes, checkpoints and cleans prepared under an older value are
    /// not applied when they complete.
    pub(crate) truncations: u64,
}

impl Log {
    /// Open the log in `dir`, creating it if needed and recovering it if it exists: after
    /// this, everything in the log is on disk and `recovery_point() == log_end_offset()`.
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Log> {
        let recovered = recovery::recover(&*fs, dir, &config, now_ms)?;
        let mut log = Log {
            fs,
            dir: dir.to_path_buf(),
            config,
            segments: recovered.segments,
            log_start_offset: recovered.log_start_offset,
            recovery_point: 0,
            durable_offset: 0,
            failed: Arc::new(AtomicBool::new(false)),
            checkpoints: Arc::default(),
            dir_changes: 0,
            dir_changes_synced: 0,
            cleaner: Default::default(),
            leader_epochs: LeaderEpochs::default(),
            leader_epochs_unwritten: false,
            truncations: 0,
        };
        log.recovery_point = log.log_end_offset();
        log.durable_offset = log.recovery_point;
        log.checkpoint()?;
        log.load_leader_epochs()?;
        Ok(log)
    }

    /// The leader epoch cache as the recovered log has it: the file, without the epochs of
    /// data recovery cut off; or, without a file (a log written before vltava kept one, or a
    /// damaged file), rebuilt from the batches' headers.
    fn load_leader_epochs(&mut self) -> Result<()> {
        let stored = LeaderEpochs::read(&*self.fs, &self.dir)?;
        let mut epochs = match &stored {
            Some(epochs) => epochs.clone(),
            None => {
                let mut rebuilt = LeaderEpochs::default();
                self.for_each_batch_header(|h| {
                    rebuilt.assign(h.partition_leader_epoch, h.base_offset)
                })?;
                rebuilt
            }
        };
        epochs.truncate_from_end(self.log_end_offset());
        epochs.truncate_from_start(self.log_start_offset);
        // A partition with no data yet gets its file with its first batch.
        let nothing_to_write = stored.is_none() && epochs.entries().is_empty();
        if stored.as_ref() != Some(&epochs) && !nothing_to_write {
            epochs.write(&*self.fs, &self.dir)?;
        }
        self.leader_epochs = epochs;
        Ok(())
    }

    /// `(epoch, end offset)` of the largest epoch at or below `requested` (OffsetForLeaderEpoch,
    /// Kafka's `endOffsetForEpoch`); `(-1, -1)` when the log has no answer.
    pub fn end_offset_for_epoch(&self, requested: i32) -> Result<(i32, i64)> {
        self.check_online()?;
        Ok(self
            .leader_epochs
            .end_offset_for(requested, self.log_end_offset()))
    }

    /// The leader epochs of the log's data and where each starts.
    pub fn leader_epochs(&self) -> &LeaderEpochs {
        &self.leader_epochs
    }

    /// Drops the epochs of data at or after `end` (a truncation), durably.
    pub(crate) fn truncate_leader_epochs(&mut self, end: i64) -> Result<()> {
        let before = self.leader_epochs.clone();
        self.leader_epochs.truncate_from_end(end);
        if self.leader_epochs != before {
            self.leader_epochs.write(&*self.fs, &self.dir)?;
            self.leader_epochs_unwritten = false;
        }
        Ok(())
    }

    /// This broker leads the partition in `epoch` from now on: the epoch starts at the log end
    /// offset (Kafka's `maybeAssignEpochStartOffset`), so that OffsetForLeaderEpoch names it
    /// before any of its data is written. In memory until the epoch's first batch.
    pub fn assign_leader_epoch(&mut self, epoch: i32) {
        if self.leader_epochs.is_new(epoch) {
            self.leader_epochs.assign(epoch, self.log_end_offset());
            self.leader_epochs_unwritten = true;
        }
    }

    /// A new epoch's entry is durable before its first batch is appended, so the cache never
    /// lacks an epoch the log holds (recovery drops entries past the data that survived).
    pub(crate) fn start_epoch(&mut self, epoch: i32, start_offset: i64) -> Result<()> {
        if self.leader_epochs.is_new(epoch) {
            self.leader_epochs.assign(epoch, start_offset);
            self.leader_epochs_unwritten = true;
        }
        if self.leader_epochs_unwritten {
            let result = self.leader_epochs.write(&*self.fs, &self.dir);
            self.offline_on_error(result)?;
            self.leader_epochs_unwritten = false;
        }
        Ok(())
    }

    pub(crate) fn check_online(&self) -> Result<()> {
        match self.failed.load(Ordering::Acquire) {
            true => Err(StorageError::LogOffline {
                path: self.dir.clone(),
            }),
            false => Ok(()),
        }
    }

    /// The flag that takes the log offline, for work done outside the broker's lock.
    pub(crate) fn failed_flag(&self) -> Arc<AtomicBool> {
        self.failed.clone()
    }

    /// Take the log offline if a write failed: what reached the disk is unknown.
    pub(crate) fn offline_on_error<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(error) = &result {
            tracing::error!(%error, dir = %self.dir.display(), "write failed; taking the log offline");
            self.failed.store(true, Ordering::Release);
        }
        result
    }

    fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    pub(crate) fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Validate, assign offsets in place, and append in one write. Nothing is written if
    /// any batch is invalid.
    pub fn append(&mut self, batches: &mut [u8], opts: AppendOptions) -> Result<AppendInfo> {
        let validated = self.validate(batches, opts.now_ms)?;
        self.append_validated(batches, validated, opts)
    }

    /// Check every batch (framing, magic, CRC, sizes, timestamps) without writing, so that a
    /// caller can validate before it commits to other state (the broker's idempotence check:
    /// a corrupt retry of a duplicate must be rejected, not answered as a duplicate).
    pub fn validate(&self, batches: &[u8], now_ms: i64) -> Result<Validated> {
        self.check_online()?;
        let (mut batch_count, mut offset_count) = (0usize, 0i64);
        let mut timestamps = Ok(());
        for_each_batch(batches, self.config.max_message_bytes, |h, at| {
            batch_count += 1;
            offset_count += i64::from(h.last_offset_delta) + 1;
            if timestamps.is_ok() {
                timestamps = timestamps::validate(&batches[at..], h, &self.config, now_ms);
            }
        })?;
        timestamps?;
        Ok(Validated {
            batch_count,
            offset_count,
        })
    }

    /// Append `batches`, which [`Log::validate`] accepted (`validated` is its answer for these
    /// very bytes): assign offsets in place and write them in one write.
    pub fn append_validated(
        &mut self,
        batches: &mut [u8],
        validated: Validated,
        opts: AppendOptions,
    ) -> Result<AppendInfo> {
        self.check_online()?;
        let Validated {
            batch_count,
            offset_count,
        } = validated;
        let log_append_time_ms = self.stamp_log_append_time(batches, opts.now_ms)?;
        if batches.len() as u64 > SEGMENT_BYTES_MAX {
            return Err(StorageError::MessageTooLarge {
                size: batches.len(),
                max_bytes: SEGMENT_BYTES_MAX as usize,
            });
        }
        if self.roll_needed(batches.len() as u64, offset_count, opts.now_ms) {
            let result = self.roll();
            self.offline_on_error(result)?;
        }
        let base_offset = self.log_end_offset();
        self.start_epoch(opts.leader_epoch, base_offset)?;
        let (mut next, mut max_timestamp, mut at) = (base_offset, -1i64, 0usize);
        while at < batches.len() {
            let header = BatchHeader::parse(&batches[at..])?;
            set_base_offset(&mut batches[at..], next);
            set_partition_leader_epoch(&mut batches[at..], opts.leader_epoch);
            next += i64::from(header.last_offset_delta) + 1;
            max_timestamp = max_timestamp.max(header.max_timestamp);
            at += header.total_size();
        }
        let interval = self.config.index_interval_bytes;
        let result = self.active_mut().append(batches, interval, opts.now_ms);
        self.offline_on_error(result)?;
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            max_timestamp,
            log_append_time_ms,
            batch_count,
            bytes: batches.len(),
        })
    }

    /// Under LogAppendTime, stamps every batch with `now_ms` and returns it; -1 otherwise.
    fn stamp_log_append_time(&self, batches: &mut [u8], now_ms: i64) -> Result<i64> {
        if self.config.message_timestamp_type != TimestampType::LogAppendTime {
            return Ok(-1);
        }
        let mut at = 0;
        while at < batches.len() {
            let size = BatchHeader::parse(&batches[at..])?.total_size();
            timestamps::stamp_log_append_time(&mut batches[at..at + size], now_ms);
            at += size;
        }
        Ok(now_ms)
    }

    pub(crate) fn roll_needed(&self, bytes: u64, offset_count: i64, now_ms: i64) -> bool {
        let active = self.active();
        if active.is_empty() {
            return false;
        }
        let max_bytes = self.config.segment_bytes.min(SEGMENT_BYTES_MAX);
        let too_big = active.size + bytes > max_bytes;
        let too_old = active
            .rolling_since_ms
            .is_some_and(|t| now_ms - t >= self.config.segment_ms);
        // Relative offsets in the indexes are u32; keep well inside like Kafka (i32).
        let offsets_overflow =
            active.next_offset + offset_count - active.base_offset > i64::from(i32::MAX);
        too_big || too_old || offsets_overflow
    }

    /// Close the active segment (its indexes written out) and start a new one at the log
    /// end offset. The new files become durable with the next flush's directory fsync.
    pub(crate) fn roll(&mut self) -> Result<()> {
        let base = self.log_end_offset();
        self.active_mut().write_indexes()?;
        let segment = Segment::create(&*self.fs, &self.dir, base)?;
        tracing::debug!(dir = %self.dir.display(), base, "rolled new log segment");
        self.segments.push(segment);
        self.dir_changes += 1;
        Ok(())
    }

    /// Roll the active segment if `segment.ms` has passed, even with no append coming.
    pub fn roll_if_due(&mut self, now_ms: i64) -> Result<()> {
        self.check_online()?;
        if self.roll_needed(0, 0, now_ms) {
            let result = self.roll();
            self.offline_on_error(result)?;
        }
        Ok(())
    }

    /// Whole batches from the one holding `start_offset`, of one segment; see the crate docs
    /// for the `max_offset`, `max_bytes` and `min_one_batch` (KIP-74) rules.
    pub fn read(
        &self,
        start_offset: i64,
        max_offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadSlice> {
        self.check_online()?;
        let log_end = self.log_end_offset();
        if start_offset < self.log_start_offset || start_offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                requested: start_offset,
                log_start: self.log_start_offset,
                log_end,
            });
        }
        if start_offset == log_end {
            return Ok(ReadSlice::empty());
        }
        let mut index = self
            .segments
            .partition_point(|s| s.base_offset <= start_offset)
            .saturating_sub(1);
        loop {
            let segment = &self.segments[index];
            let range = segment.read_range(start_offset, max_offset, max_bytes, min_one_batch)?;
            // Nothing at or after the offset in this segment (the cleaner removed its last
            // batches, or all of them): the next segment holds what follows the gap.
            let past_end = range.len == 0 && range.position >= segment.size;
            if past_end && index + 1 < self.segments.len() {
                index += 1;
                continue;
            }
            let file = segment.log_file();
            let truncations = file.1.truncations();
            return Ok(ReadSlice {
                file: Some(file),
                position: range.position,
                len: range.len,
                truncations,
            });
        }
    }
}

impl Log {
    /// Prepare a group commit (under the broker's lock): write pending index entries and
    /// collect the files to sync, from the segment holding the durable offset (a data
    /// flush) or the recovery point (a full one) on. `None` if there is nothing to sync.
    pub fn prepare_flush(&mut self, scope: FlushScope) -> Result<Option<PendingFlush>> {
        self.check_online()?;
        let end_offset = self.log_end_offset();
        let dir_pending = self.dir_changes_synced < self.dir_changes;
        let synced_to = match scope {
            FlushScope::Data => self.durable_offset,
            FlushScope::Full => self.recovery_point,
        };
        if end_offset <= synced_to && !dir_pending {
            return Ok(None);
        }
        let first = self
            .segments
            .partition_point(|s| s.next_offset <= synced_to);
        let first = first.min(self.segments.len() - 1);
        let mut files = Vec::with_capacity(3 * (self.segments.len() - first));
        for segment in &mut self.segments[first..] {
            let result = segment.write_indexes();
            if result.is_err() {
                self.failed.store(true, Ordering::Release);
                result?;
            }
            match scope {
                FlushScope::Data => files.push(segment.log_file()),
                FlushScope::Full => files.extend(segment.files()),
            }
        }
        let dir = dir_pending.then(|| (self.fs.clone(), self.dir.clone(), self.dir_changes));
        Ok(Some(PendingFlush {
            scope,
            end_offset,
            generation: self.truncations,
            files,
            dir,
            log_failed: self.failed.clone(),
            synced: AtomicBool::new(false),
        }))
    }

    /// Finish a group commit (under the broker's lock) whose `sync` succeeded: everything
    /// below its end offset is durable, and after a full flush also recoverable without a
    /// scan. A flush that did not sync changes nothing.
    pub fn complete_flush(&mut self, flushed: PendingFlush) {
        if !flushed.is_synced()
            || self.failed.load(Ordering::Acquire)
            || flushed.generation != self.truncations
        {
            return;
        }
        self.durable_offset = self.durable_offset.max(flushed.end_offset);
        if flushed.scope == FlushScope::Full {
            self.recovery_point = self.recovery_point.max(flushed.end_offset);
        }
        if let Some((_, _, changes)) = flushed.dir {
            self.dir_changes_synced = self.dir_changes_synced.max(changes);
        }
    }

    /// Every offset below this is on disk (fsynced): what acks=all and the high watermark
    /// wait for.
    pub fn durable_offset(&self) -> i64 {
        self.durable_offset
    }

    /// Every offset below this is on disk with its index entries: open trusts it unscanned.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Durably record the log start offset and recovery point, so that the next open scans
    /// only the segments from the recovery point on. Cheap; call it periodically (Kafka's
    /// `log.flush.offset.checkpoint.interval.ms`) and after the last flush on shutdown.
    pub fn checkpoint(&mut self) -> Result<()> {
        let pending = self.prepare_checkpoint()?;
        pending.write()
    }

    /// The checkpoint of the log as it is now, to be written outside the broker's lock with
    /// [`PendingCheckpoint::write`] (it fsyncs twice). Writes are ordered and never move
    /// either offset back, however they interleave.
    pub fn prepare_checkpoint(&self) -> Result<PendingCheckpoint> {
        self.check_online()?;
        Ok(self.pending_checkpoint(Checkpoint {
            log_start_offset: self.log_start_offset,
            recovery_point: self.recovery_point,
        }))
    }

    pub(crate) fn pending_checkpoint(&self, checkpoint: Checkpoint) -> PendingCheckpoint {
        PendingCheckpoint {
            checkpoint,
            generation: self.truncations,
            writer: self.checkpoints.clone(),
            fs: self.fs.clone(),
            dir: self.dir.clone(),
            log_failed: self.failed.clone(),
        }
    }

    /// The first batch whose max timestamp is at or above `timestamp`, as (offset, that
    /// batch's max timestamp); the offset is the batch's base offset, raised to the log
    /// start offset if below it (ListOffsets by time).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        self.check_online()?;
        for segment in self
            .segments
            .iter()
            .filter(|s| s.max_timestamp >= timestamp)
        {
            if let Some((offset, found)) = segment.find_timestamp(timestamp)? {
                return Ok(Some((offset.max(self.log_start_offset), found)));
            }
        }
        Ok(None)
    }

    /// Calls `f` with the header of every batch, oldest first, without reading records:
    /// for state derived from the log on start (idempotent producer state).
    pub fn for_each_batch_header(&self, mut f: impl FnMut(&BatchHeader)) -> Result<()> {
        self.check_online()?;
        for segment in &self.segments {
            segment.for_each_header(&mut f)?;
        }
        Ok(())
    }

    /// The largest timestamp in the log and the base offset of the (first) batch holding
    /// it (ListOffsets MAX_TIMESTAMP, KIP-734, at batch granularity); `None` if no batch has
    /// a timestamp.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let best = self.segments.iter().filter(|s| s.max_timestamp >= 0).fold(
            None,
            |best: Option<&Segment>, s| match best {
                Some(b) if b.max_timestamp >= s.max_timestamp => Some(b),
                _ => Some(s),
            },
        )?;
        Some((
            best.offset_of_max_timestamp.max(self.log_start_offset),
            best.max_timestamp,
        ))
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Bytes of all segments' log files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Remove the log and its directory (topic deletion).
    pub fn delete(self) -> Result<()> {
        self.fs.remove_dir_all(&self.dir).map_err(io_at(&self.dir))
    }
}
