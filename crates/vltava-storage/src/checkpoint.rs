//! The partition checkpoint: the log start offset (moved by retention and DeleteRecords,
//! and not derivable from the segments) and a recovery point (below which segments need
//! no scan on open). Replaced atomically: write a temp file, fsync, rename, fsync the dir.
//!
//! Format v1, 30 bytes, big endian: magic "VLCP", version u16 = 1, log_start_offset i64,
//! recovery_point i64, reserved u32 = 0, CRC-32C u32 of the 26 bytes before it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Result, StorageError};
use crate::fs::FileSystem;
use crate::names;
use crate::small_file;

const MAGIC: &[u8; 4] = b"VLCP";
const VERSION: u16 = 1;
pub const CHECKPOINT_BYTES: usize = 30;
const CRC_AT: usize = 26;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub log_start_offset: i64,
    pub recovery_point: i64,
}

impl Checkpoint {
    fn encode(&self) -> [u8; CHECKPOINT_BYTES] {
        let mut out = [0u8; CHECKPOINT_BYTES];
        out[0..4].copy_from_slice(MAGIC);
        out[4..6].copy_from_slice(&VERSION.to_be_bytes());
        out[6..14].copy_from_slice(&self.log_start_offset.to_be_bytes());
        out[14..22].copy_from_slice(&self.recovery_point.to_be_bytes());
        let crc = crc32c::crc32c(&out[..CRC_AT]);
        out[CRC_AT..].copy_from_slice(&crc.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let malformed = |reason| StorageError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.len() != CHECKPOINT_BYTES || &bytes[0..4] != MAGIC {
            return Err(malformed("not a partition checkpoint"));
        }
        if crc32c::crc32c(&bytes[..CRC_AT])
            != u32::from_be_bytes([bytes[26], bytes[27], bytes[28], bytes[29]])
        {
            return Err(malformed("checkpoint CRC mismatch"));
        }
        if u16::from_be_bytes([bytes[4], bytes[5]]) != VERSION {
            return Err(malformed("unknown checkpoint version"));
        }
        Ok(Checkpoint {
            log_start_offset: crate::batch::read_i64(bytes, 6),
            recovery_point: crate::batch::read_i64(bytes, 14),
        })
    }

    /// Read the checkpoint of `dir`; `None` if there is none. A damaged one is reported
    /// and ignored: recovery then scans every segment, which is slow but safe.
    pub fn read(fs: &dyn FileSystem, dir: &Path) -> Result<Option<Checkpoint>> {
        let path = names::checkpoint_file(dir);
        let Some(bytes) = small_file::read(fs, &path, CHECKPOINT_BYTES as u64)? else {
            return Ok(None);
        };
        match Checkpoint::decode(&bytes, &path) {
            Ok(checkpoint) => Ok(Some(checkpoint)),
            Err(error) => {
                tracing::warn!(%error, "ignoring damaged partition checkpoint");
                Ok(None)
            }
        }
    }

    /// Durably replace the checkpoint of `dir`.
    pub fn write(&self, fs: &dyn FileSystem, dir: &Path) -> Result<()> {
        let temp = names::checkpoint_temp_file(dir);
        let path = names::checkpoint_file(dir);
        small_file::replace(fs, dir, &temp, &path, &self.encode())
    }
}

/// Serialises the checkpoint writes of one log, which run outside the broker's lock, and
/// keeps them monotonic: both fields only grow, so a write prepared earlier but finishing
/// later never puts back an older log start offset (records DeleteRecords removed would
/// reappear on open) or recovery point. Shared by the log and its pending checkpoints.
#[derive(Debug, Default)]
pub(crate) struct CheckpointWriter {
    /// The last checkpoint written, merged into every later one, and the log's truncation
    /// generation it belongs to.
    written: Mutex<(Option<Checkpoint>, u64)>,
}

impl CheckpointWriter {
    /// Durably write `checkpoint`, raised to anything written before it.
    /// A checkpoint prepared before a truncation (an older `generation`) is dropped: its
    /// recovery point may lie past data the truncation removed and new data not yet synced.
    pub(crate) fn write(
        &self,
        checkpoint: Checkpoint,
        generation: u64,
        fs: &dyn FileSystem,
        dir: &Path,
    ) -> Result<()> {
        // A poisoned lock means a writer panicked between writes; the value is still whole.
        let mut guard = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let (written, current) = &mut *guard;
        if generation < *current {
            return Ok(());
        }
        let merged = match *written {
            Some(before) => Checkpoint {
                log_start_offset: checkpoint.log_start_offset.max(before.log_start_offset),
                recovery_point: checkpoint.recovery_point.max(before.recovery_point),
            },
            None => checkpoint,
        };
        merged.write(fs, dir)?;
        *written = Some(merged);
        Ok(())
    }

    /// Durably writes `checkpoint` as it is (a truncation lowers the recovery point, which
    /// `write` never does) and starts `generation`.
    pub(crate) fn reset(
        &self,
        checkpoint: Checkpoint,
        generation: u64,
        fs: &dyn FileSystem,
        dir: &Path,
    ) -> Result<()> {
        let mut guard = self.written.lock().unwrap_or_else(|e| e.into_inner());
        checkpoint.write(fs, dir)?;
        *guard = (Some(checkpoint), generation);
        Ok(())
    }
}

/// A checkpoint taken under the broker's lock, to be written (two fsyncs) outside it. On
/// error the log is offline, like after a failed flush.
#[derive(Debug)]
pub struct PendingCheckpoint {
    pub(crate) checkpoint: Checkpoint,
    /// The log's truncation generation when this was prepared.
    pub(crate) generation: u64,
    pub(crate) writer: Arc<CheckpointWriter>,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) dir: PathBuf,
    pub(crate) log_failed: Arc<AtomicBool>,
}

impl PendingCheckpoint {
    /// Write the checkpoint durably. Call without the log's lock.
    pub fn write(&self) -> Result<()> {
        if self.log_failed.load(Ordering::Acquire) {
            return Err(StorageError::LogOffline {
                path: self.dir.clone(),
            });
        }
        let result = self
            .writer
            .write(self.checkpoint, self.generation, &*self.fs, &self.dir);
        if let Err(error) = &result {
            tracing::error!(%error, dir = %self.dir.display(), "checkpoint write failed; taking the log offline");
            self.log_failed.store(true, Ordering::Release);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sim_fs::SimFs;

    #[test]
    fn checkpoint_round_trips_and_damage_is_ignored() {
        let fs = SimFs::new();
        let dir = Path::new("/t-0");
        fs.create_dir_all(dir).unwrap();
        assert_eq!(Checkpoint::read(&fs, dir).unwrap(), None);
        let cp = Checkpoint {
            log_start_offset: 5,
            recovery_point: 99,
        };
        cp.write(&fs, dir).unwrap();
        assert_eq!(Checkpoint::read(&fs, dir).unwrap(), Some(cp));
        let path = names::checkpoint_file(dir);
        let mut bytes = fs.contents(&path).unwrap();
        bytes[8] ^= 1;
        fs.set_contents(&path, &bytes).unwrap();
        assert_eq!(Checkpoint::read(&fs, dir).unwrap(), None);
    }

    #[test]
    fn a_checkpoint_prepared_before_a_truncation_does_not_raise_the_recovery_point_again() {
        let fs = SimFs::new();
        let dir = Path::new("/t-0");
        fs.create_dir_all(dir).unwrap();
        let writer = CheckpointWriter::default();
        let at = |recovery_point| Checkpoint {
            log_start_offset: 0,
            recovery_point,
        };
        writer.write(at(50), 0, &fs, dir).unwrap();
        writer.reset(at(30), 1, &fs, dir).unwrap();
        writer.write(at(50), 0, &fs, dir).unwrap();
        assert_eq!(Checkpoint::read(&fs, dir).unwrap(), Some(at(30)));
        writer.write(at(40), 1, &fs, dir).unwrap();
        assert_eq!(Checkpoint::read(&fs, dir).unwrap(), Some(at(40)));
    }
}
