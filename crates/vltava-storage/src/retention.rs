//! Deleting old segments: retention by time and size, and moving the log start offset
//! (DeleteRecords). Only whole closed segments are deleted, never the active one.
//!
//! Order matters for crashes: the new log start offset is checkpointed durably first,
//! then the files are removed. A segment whose removal a crash undoes lies wholly below
//! the checkpointed log start offset and is deleted again on open.

use crate::checkpoint::Checkpoint;
use crate::error::{Result, StorageError};
use crate::log::Log;

impl Log {
    /// Delete closed segments older than `retention.ms` (by their largest timestamp), over
    /// `retention.bytes` (both only if `cleanup.policy` has `delete`), or wholly below the
    /// log start offset. Returns how many.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize> {
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
        if count > 0 {
            let new_start = self.segments[count].base_offset.max(self.log_start_offset);
            let result = self.delete_oldest_segments(count, new_start);
            self.offline_on_error(result)?;
        }
        Ok(count)
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
        // The checkpoint's recovery point must not be below the new start: the segment at
        // the new start is then scanned on open if it is not yet durable.
        let recovery_point = self.recovery_point.max(new_start);
        Checkpoint {
            log_start_offset: new_start,
            recovery_point,
        }
        .write(&*self.fs, &self.dir)?;
        self.log_start_offset = new_start;
        for segment in self.segments.drain(..count) {
            tracing::info!(dir = %self.dir.display(), base = segment.base_offset, "deleting log segment");
            segment.delete_files(&*self.fs)?;
        }
        self.recovery_point = recovery_point;
        self.durable_offset = self.durable_offset.max(recovery_point);
        Ok(())
    }
}
