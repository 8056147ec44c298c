//! Deleting old segments: retention by time and size, and moving the log start offset
//! (DeleteRecords). Only whole closed segments are deleted, never the active one.
//!
//! Order matters for crashes: the new log start offset is checkpointed durably first,
//! then the files are removed. A segment whose removal a crash undoes lies wholly below
//! the checkpointed log start offset and is deleted again on open.
//!
//! Retention is planned under the broker's lock ([`Log::prepare_retention`]: the segments
//! leave the log in memory) and made durable outside it ([`PendingRetention::complete`]:
//! checkpoint with its fsyncs, then file removal), so appends never wait for its fsyncs. A
//! crash in between leaves the old checkpoint and the files: retention runs again.

use std::sync::Arc;

use crate::checkpoint::{Checkpoint, PendingCheckpoint};
use crate::error::{Result, StorageError};
use crate::fs::FileSystem;
use crate::log::Log;
use crate::segment::Segment;

/// Retention planned under the lock: the checkpoint to write, then the segments to delete.
#[derive(Debug)]
pub struct PendingRetention {
    checkpoint: PendingCheckpoint,
    deleted: Vec<Segment>,
    fs: Arc<dyn FileSystem>,
}

impl PendingRetention {
    /// Write the checkpoint durably, then remove the deleted segments' files; returns how
    /// many segments were deleted. Call without the log's lock; on error the log is offline.
    pub fn complete(self) -> Result<usize> {
        self.checkpoint.write()?;
        for segment in &self.deleted {
            tracing::info!(base = segment.base_offset, "deleting log segment");
            if let Err(error) = segment.delete_files(&*self.fs) {
                tracing::error!(%error, "segment removal failed; taking the log offline");
                self.checkpoint
                    .log_failed
                    .store(true, std::sync::atomic::Ordering::Release);
                return Err(error);
            }
        }
        Ok(self.deleted.len())
    }
}

impl Log {
    /// Delete closed segments older than `retention.ms` (by their largest timestamp), over
    /// `retention.bytes` (both only if `cleanup.policy` has `delete`), or wholly below the
    /// log start offset. Returns how many. Durable when it returns; the broker uses
    /// [`Log::prepare_retention`] to keep the fsyncs out of its lock.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize> {
        self.prepare_retention(now_ms)?.complete()
    }

    /// [`Log::apply_retention`] in memory: the segments to delete leave the log now (reads
    /// below the new log start offset are refused from here on); the returned
    /// [`PendingRetention`] makes it durable. Always returns a checkpoint to write, also
    /// when nothing is deleted, which persists the recovery point.
    pub fn prepare_retention(&mut self, now_ms: i64) -> Result<PendingRetention> {
        self.check_online()?;
        let closed = self.segments.len() - 1;
        let mut count = 0;
        // Wholly below the log start: an empty segment starting at it (the cleaner's) is not.
        while count < closed && {
            let segment = &self.segments[count];
            segment.next_offset <= self.log_start_offset
                && segment.base_offset < self.log_start_offset
        } {
            count += 1;
        }
        let by_time_and_size = self.config.cleanup_policy.delete;
        let retention_ms = self.config.retention_ms;
        if by_time_and_size && retention_ms >= 0 {
            // An empty segment without a timestamp (one the cleaner emptied, reopened) holds
            // nothing to retain.
            while count < closed && {
                let segment = &self.segments[count];
                let ts = segment.max_timestamp;
                (ts >= 0 && now_ms - ts > retention_ms) || (ts < 0 && segment.is_empty())
            } {
                count += 1;
            }
        }
        if by_time_and_size && self.config.retention_bytes >= 0 {
            let deleted: u64 = self.segments[..count].iter().map(|s| s.size).sum();
            let mut excess = (self.size_bytes() - deleted) as i64 - self.config.retention_bytes;
            while count < closed && excess - self.segments[count].size as i64 >= 0 {
                excess -= self.segments[count].size as i64;
                count += 1;
            }
        }
        let new_start = self.segments[count].base_offset.max(self.log_start_offset);
        Ok(self.detach_oldest_segments(count, new_start))
    }

    /// Move the log start offset forward (DeleteRecords); durable when this returns. Offsets
    /// below it are no longer readable; segments wholly below it are deleted.
    pub fn set_log_start_offset(&mut self, offset: i64) -> Result<()> {
        self.check_online()?;
        let log_end = self.log_end_offset();
        if offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset,
                log_end,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(());
        }
        let closed = self.segments.len() - 1;
        let count = self.segments[..closed]
            .iter()
            .take_while(|s| s.next_offset <= offset)
            .count();
        let result = self.delete_oldest_segments(count, offset);
        self.offline_on_error(result)
    }

    fn delete_oldest_segments(&mut self, count: usize, new_start: i64) -> Result<()> {
        self.detach_oldest_segments(count, new_start).complete()?;
        Ok(())
    }

    /// Takes the oldest `count` segments out of the log and moves the log start offset to
    /// `new_start`, in memory; the result makes that durable.
    fn detach_oldest_segments(&mut self, count: usize, new_start: i64) -> PendingRetention {
        // The checkpoint's recovery point must not be below the new start: the segment at
        // the new start is then scanned on open if it is not yet durable.
        let recovery_point = self.recovery_point.max(new_start);
        let checkpoint = self.pending_checkpoint(Checkpoint {
            log_start_offset: new_start,
            recovery_point,
        });
        self.log_start_offset = new_start;
        // In memory: open applies the checkpointed log start offset to the file's entries.
        self.leader_epochs.truncate_from_start(new_start);
        let deleted = self.segments.drain(..count).collect();
        self.recovery_point = recovery_point;
        self.durable_offset = self.durable_offset.max(recovery_point);
        PendingRetention {
            checkpoint,
            deleted,
            fs: self.fs.clone(),
        }
    }
}
