//! Truncating a log from its end (Kafka's `UnifiedLog.truncateTo`): a follower drops the
//! suffix where its log diverged from its leader's (KIP-101/KIP-279) before fetching again.
//!
//! Durable before it returns: the cut segment is fsynced at its new length, the removed
//! segments' files are gone with the directory fsynced, and the checkpoint is rewritten with
//! the recovery point lowered to the new end. A flush, checkpoint or clean prepared before the
//! truncation and completed after it is not applied (the truncation generation fences it):
//! it covered offsets whose data may now be different and not yet synced.

use crate::checkpoint::Checkpoint;
use crate::error::{Result, io_at};
use crate::log::Log;
use crate::segment::Segment;

impl Log {
    /// Removes every batch at or after `target` (the whole batch holding it, if `target` is
    /// inside a batch, as Kafka cuts at batch boundaries). A `target` at or below the log
    /// start offset empties the log, which then starts at `target` (Kafka's
    /// `truncateFullyAndStartAt`). If the log ends at or before `target` no data goes, but an
    /// epoch started at the log end with nothing written in it does (as Kafka always truncates
    /// the epoch cache): this broker led in it, appended nothing, and lost the lead, and its
    /// new leader does not know that epoch; kept, every fetch would name it and diverge again.
    pub fn truncate_to(&mut self, target: i64) -> Result<()> {
        self.check_online()?;
        let end = self.log_end_offset();
        if target >= end {
            let result = self.truncate_leader_epochs(end);
            return self.offline_on_error(result);
        }
        let result = self.cut(target, false);
        self.offline_on_error(result)
    }

    /// Empties the log, which then starts at `offset` (Kafka's `truncateFullyAndStartAt`): a
    /// follower whose log ends below its leader's log start offset cannot fetch what it lacks
    /// and starts over where the leader's log starts.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<()> {
        self.check_online()?;
        let result = self.cut(offset, true);
        self.offline_on_error(result)
    }

    fn cut(&mut self, target: i64, start_over: bool) -> Result<()> {
        self.truncations += 1;
        let emptied = start_over || target <= self.log_start_offset;
        let keep = match emptied {
            true => 0,
            false => self.segments.partition_point(|s| s.base_offset < target),
        };
        let removed: Vec<Segment> = self.segments.drain(keep..).collect();
        // Removed first: a new segment at `target` may take a removed one's file names.
        for segment in &removed {
            segment.delete_files(&*self.fs)?;
        }
        if emptied {
            self.segments
                .push(Segment::create(&*self.fs, &self.dir, target)?);
            self.log_start_offset = target;
        } else {
            self.cut_last_segment(target)?;
        }
        self.fs.sync_dir(&self.dir).map_err(io_at(&self.dir))?;
        let end = self.log_end_offset();
        self.recovery_point = self.recovery_point.min(end);
        self.durable_offset = self.durable_offset.min(end);
        self.checkpoints.reset(
            Checkpoint {
                log_start_offset: self.log_start_offset,
                recovery_point: self.recovery_point,
            },
            self.truncations,
            &*self.fs,
            &self.dir,
        )?;
        self.truncate_leader_epochs(end)?;
        self.cleaner = Default::default();
        tracing::info!(dir = %self.dir.display(), target, end, "truncated log");
        Ok(())
    }

    /// Cuts the last segment before the batch holding `target` and rebuilds its indexes.
    fn cut_last_segment(&mut self, target: i64) -> Result<()> {
        let interval = self.config.index_interval_bytes;
        let last = self.segments.len() - 1;
        let Some(position) = self.segments[last].position_of(target)? else {
            return Ok(());
        };
        let (path, file) = self.segments[last].log_file();
        file.set_len(position).map_err(io_at(&path))?;
        file.sync_data().map_err(io_at(&path))?;
        let rolling_since_ms = self.segments[last].rolling_since_ms;
        let base = self.segments[last].base_offset;
        let (mut segment, _) = Segment::recover(&*self.fs, &self.dir, base, interval)?;
        segment.rolling_since_ms = rolling_since_ms.filter(|_| !segment.is_empty());
        for (path, file) in segment.files() {
            file.sync_data().map_err(io_at(&path))?;
        }
        self.segments[last] = segment;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Guards against sending bytes a truncation replaced: a read slice sent after the log was
    //! cut (a follower's divergence) must know that its range may now hold other records.
    use std::sync::Arc;

    use crate::{AppendOptions, Log, LogConfig, RealFs, TestBatch};

    #[test]
    fn a_slice_read_before_a_truncation_knows_its_range_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t-0");
        let mut log = Log::open(Arc::new(RealFs), &path, LogConfig::default(), 0).expect("open");
        let options = AppendOptions {
            leader_epoch: 0,
            now_ms: 0,
        };
        for payload in [&b"abc"[..], b"def"] {
            let mut batch = TestBatch::new(3, 0, payload).encode();
            log.append(&mut batch, options).expect("append");
        }
        let slice = log.read(0, 6, usize::MAX, true).expect("read");
        assert!(slice.os_file().is_some() && slice.unchanged());
        let other = log.read(0, 6, usize::MAX, true).expect("read");

        log.truncate_to(3).expect("truncate");
        assert!(!slice.unchanged());
        assert!(!other.unchanged());
        let after = log.read(0, 3, usize::MAX, true).expect("read");
        assert!(after.unchanged());
    }
}
