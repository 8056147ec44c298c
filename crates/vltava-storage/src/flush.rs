//! Group commit without holding the log's lock during fsync.
//!
//! Under the broker's mutex, `Log::prepare_flush` writes the pending index entries and
//! collects the files holding unsynced data into a [`PendingFlush`]. Outside the mutex,
//! [`PendingFlush::sync`] fsyncs them (and the directory if a segment was created) while
//! appends go on. Back under the mutex, `Log::complete_flush` advances the durable offset
//! (and, for a [`FlushScope::Full`] flush, the recovery point) to [`PendingFlush::end_offset`]. A failed fsync marks the log offline through a flag shared
//! with it: the bytes it covered are in an unknown state, and retrying fsync on Linux would
//! report success for pages the kernel already dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Result, io_at};
use crate::fs::{FileSystem, LogFile};

/// What a flush makes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushScope {
    /// The log's bytes only: what acknowledgements wait for. One fdatasync per segment
    /// instead of three; the index entries it leaves unsynced are rebuilt on open, because
    /// the recovery point does not move over them.
    Data,
    /// The log and its indexes: moves the recovery point, so open scans less. Periodic,
    /// like Kafka's recovery-point checkpoint, and on shutdown.
    Full,
}

/// A flush prepared under the log's lock, to be synced outside it.
#[derive(Debug)]
pub struct PendingFlush {
    pub(crate) scope: FlushScope,
    pub(crate) end_offset: i64,
    /// The log's truncation generation when this was prepared: a flush prepared before a
    /// truncation proves nothing about the data written after it.
    pub(crate) generation: u64,
    pub(crate) files: Vec<(PathBuf, Arc<dyn LogFile>)>,
    /// The directory to fsync (a segment was created since the last flush) and the count of
    /// directory changes that covers.
    pub(crate) dir: Option<(Arc<dyn FileSystem>, PathBuf, u64)>,
    pub(crate) log_failed: Arc<AtomicBool>,
    pub(crate) synced: AtomicBool,
}

impl PendingFlush {
    /// Every offset below this is durable once `sync` has returned `Ok`.
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// Fsync the files (and directory) holding the unsynced data. Call without the log's
    /// lock. On error the log is offline: every later call on it returns `LogOffline`.
    pub fn sync(&self) -> Result<()> {
        let result = self.sync_all();
        match &result {
            Ok(()) => self.synced.store(true, Ordering::Release),
            Err(error) => {
                tracing::error!(%error, "fsync failed; taking the log offline");
                self.log_failed.store(true, Ordering::Release);
            }
        }
        result
    }

    fn sync_all(&self) -> Result<()> {
        for (path, file) in &self.files {
            file.sync_data().map_err(io_at(path))?;
        }
        if let Some((fs, dir, _)) = &self.dir {
            fs.sync_dir(dir).map_err(io_at(dir))?;
        }
        Ok(())
    }

    pub(crate) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }
}
