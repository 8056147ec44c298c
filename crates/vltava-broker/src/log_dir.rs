//! The health of the broker's log directory. A failed write or fsync on any partition takes
//! the whole directory offline, as Kafka's LogDirFailureChannel does: what reached the disk is
//! unknown, and a full or failing disk fails the other partitions next anyway. From then on
//! every partition on it answers produce and fetch with KAFKA_STORAGE_ERROR, and acks=all
//! producers waiting for an fsync are answered at once instead of timing out. Nothing is
//! retried; a restart recovers the logs from disk.

use std::path::Path;

use tokio::sync::watch;
use vltava_storage::StorageError;

#[derive(Debug)]
pub struct LogDirHealth {
    /// True once the directory is offline; never goes back.
    offline: watch::Sender<bool>,
}

impl Default for LogDirHealth {
    fn default() -> Self {
        LogDirHealth {
            offline: watch::Sender::new(false),
        }
    }
}

impl LogDirHealth {
    pub fn is_offline(&self) -> bool {
        *self.offline.borrow()
    }

    /// Takes the directory offline if `error` is a failed write or fsync (or the refusal of
    /// a log such a failure took offline); errors in the request's data leave it alone.
    pub fn note(&self, error: &StorageError, log_dir: &Path) {
        if !matches!(
            error,
            StorageError::Io { .. } | StorageError::LogOffline { .. }
        ) {
            return;
        }
        let newly = self
            .offline
            .send_if_modified(|offline| !std::mem::replace(offline, true));
        if newly {
            tracing::error!(%error, log = %log_dir.display(), "I/O failure; the log directory is offline until restart");
        }
    }

    /// Resolves once the directory is offline.
    pub async fn wait_offline(&self) {
        let mut offline = self.offline.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail while we are borrowed.
        let _ = offline.wait_for(|offline| *offline).await;
    }
}
