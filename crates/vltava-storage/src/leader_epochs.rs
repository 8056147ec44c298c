//! The leader epoch cache (Kafka's `LeaderEpochFileCache`, KIP-101/KIP-279): for each leader
//! epoch the log has data of, the first offset written in it. It answers "where does epoch E
//! end?" (OffsetForLeaderEpoch), which is how a replica or a consumer that saw epoch E finds
//! whether the log it read from has since diverged.
//!
//! Entries are strictly increasing in both epoch and start offset. A new entry is written
//! durably before the first batch of its epoch is appended, so the file never misses an epoch
//! the log has; entries past a log end that recovery truncated are dropped on open.
//!
//! File `leader-epoch.checkpoint`, replaced atomically (temp file, fsync, rename, fsync dir),
//! big endian: magic "VLLE", version u16 = 1, count u32, then `count` entries of epoch i32 and
//! start offset i64, then CRC-32C u32 of every byte before it.

use std::path::Path;

use crate::error::{Result, StorageError};
use crate::fs::FileSystem;
use crate::names;
use crate::small_file;

const MAGIC: &[u8; 4] = b"VLLE";
const VERSION: u16 = 1;
const HEADER_BYTES: usize = 10;
const ENTRY_BYTES: usize = 12;
const CRC_BYTES: usize = 4;
/// Far above any real count (one entry per leader change that wrote data); a larger count is
/// a damaged file, not a reason to allocate.
const ENTRIES_MAX: usize = 1 << 20;

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET: no answer.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochs {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochs {
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Whether data of `epoch` starting at `start_offset` needs a new entry: only an epoch
    /// newer than the latest does (older epochs in appended data are a replica copying a
    /// leader's log, whose entries it already has).
    pub fn is_new(&self, epoch: i32) -> bool {
        epoch >= 0 && self.latest_epoch().is_none_or(|latest| epoch > latest)
    }

    /// Records that `epoch` starts at `start_offset`. Entries at or after that offset are
    /// gone with the data they described (a truncated log being rewritten).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) {
        if !self.is_new(epoch) {
            return;
        }
        self.truncate_from_end(start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
    }

    /// Drops the entries of data at or after `end_offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        self.entries.retain(|e| e.start_offset < end_offset);
    }

    /// The log now starts at `start_offset`: entries wholly below it go, and the epoch that
    /// holds it starts there.
    pub fn truncate_from_start(&mut self, start_offset: i64) {
        let holding = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        if holding == 0 {
            return;
        }
        self.entries.drain(..holding - 1);
        self.entries[0].start_offset = self.entries[0].start_offset.max(start_offset);
    }

    /// `(epoch, end offset)` for a replica or consumer whose last fetched data was of
    /// `requested`: the largest epoch at or below it and the offset where the next epoch
    /// starts (the log end offset for the latest epoch), as Kafka's `endOffsetFor`.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested == UNDEFINED_EPOCH {
            return undefined;
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let higher = self.entries.partition_point(|e| e.epoch <= requested);
        let Some(next) = self.entries.get(higher) else {
            return undefined;
        };
        match higher.checked_sub(1).map(|floor| self.entries[floor]) {
            Some(floor) => (floor.epoch, next.start_offset),
            None => (requested, next.start_offset),
        }
    }

    /// The file's bytes (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + self.entries.len() * ENTRY_BYTES + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        for entry in &self.entries {
            out.extend_from_slice(&entry.epoch.to_be_bytes());
            out.extend_from_slice(&entry.start_offset.to_be_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads the file's bytes; `path` names it in the error. Never trusts the count before
    /// checking it against the length.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<LeaderEpochs> {
        let malformed = |reason| StorageError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.len() < HEADER_BYTES + CRC_BYTES || &bytes[0..4] != MAGIC {
            return Err(malformed("not a leader epoch checkpoint"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - CRC_BYTES);
        if crc32c::crc32c(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(malformed("leader epoch checkpoint CRC mismatch"));
        }
        if u16::from_be_bytes([body[4], body[5]]) != VERSION {
            return Err(malformed("unknown leader epoch checkpoint version"));
        }
        let count = u32::from_be_bytes([body[6], body[7], body[8], body[9]]) as usize;
        if count > ENTRIES_MAX || body.len() != HEADER_BYTES + count * ENTRY_BYTES {
            return Err(malformed("leader epoch checkpoint length mismatch"));
        }
        let entries: Vec<EpochEntry> = body[HEADER_BYTES..]
            .chunks_exact(ENTRY_BYTES)
            .map(|e| EpochEntry {
                epoch: i32::from_be_bytes([e[0], e[1], e[2], e[3]]),
                start_offset: crate::batch::read_i64(e, 4),
            })
            .collect();
        let increasing = entries
            .windows(2)
            .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset < w[1].start_offset);
        if !increasing {
            return Err(malformed("leader epoch checkpoint entries out of order"));
        }
        Ok(LeaderEpochs { entries })
    }

    /// The cache of `dir`; `None` if there is none or it is damaged (the caller rebuilds it
    /// from the batches' headers).
    pub fn read(fs: &dyn FileSystem, dir: &Path) -> Result<Option<LeaderEpochs>> {
        let path = names::leader_epochs_file(dir);
        let len_max = (HEADER_BYTES + ENTRIES_MAX * ENTRY_BYTES + CRC_BYTES) as u64;
        let Some(bytes) = small_file::read(fs, &path, len_max)? else {
            return Ok(None);
        };
        match LeaderEpochs::decode(&bytes, &path) {
            Ok(epochs) => Ok(Some(epochs)),
            Err(error) => {
                tracing::warn!(%error, "ignoring damaged leader epoch checkpoint");
                Ok(None)
            }
        }
    }

    /// Durably replaces the cache of `dir`.
    pub fn write(&self, fs: &dyn FileSystem, dir: &Path) -> Result<()> {
        let temp = names::leader_epochs_temp_file(dir);
        let path = names::leader_epochs_file(dir);
        small_file::replace(fs, dir, &temp, &path, &self.encode())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sim_fs::SimFs;

    /// Epoch 0 from offset 0, epoch 2 from 10, epoch 5 from 25.
    fn three_epochs() -> LeaderEpochs {
        let mut epochs = LeaderEpochs::default();
        epochs.assign(0, 0);
        epochs.assign(2, 10);
        epochs.assign(5, 25);
        epochs
    }

    #[test]
    fn only_a_newer_epoch_is_assigned() {
        let mut epochs = three_epochs();
        epochs.assign(5, 30);
        epochs.assign(3, 40);
        epochs.assign(-1, 50);
        assert_eq!(epochs, three_epochs());
    }

    #[test]
    fn end_offsets_answer_as_kafka_does() {
        let epochs = three_epochs();
        let log_end = 40;
        // The latest epoch ends at the log end.
        assert_eq!(epochs.end_offset_for(5, log_end), (5, 40));
        // A known epoch ends where the next begins.
        assert_eq!(epochs.end_offset_for(0, log_end), (0, 10));
        assert_eq!(epochs.end_offset_for(2, log_end), (2, 25));
        // An epoch the log has no data of: the largest below it, ending where the next begins.
        assert_eq!(epochs.end_offset_for(3, log_end), (2, 25));
        // Newer than any, or undefined: no answer.
        assert_eq!(epochs.end_offset_for(6, log_end), (-1, -1));
        assert_eq!(epochs.end_offset_for(-1, log_end), (-1, -1));
        assert_eq!(LeaderEpochs::default().end_offset_for(0, 0), (-1, -1));
        // Older than any: that epoch, ending where the first begins.
        let mut late = LeaderEpochs::default();
        late.assign(4, 100);
        assert_eq!(late.end_offset_for(1, 120), (1, 100));
    }

    #[test]
    fn truncation_from_either_end() {
        let mut epochs = three_epochs();
        epochs.truncate_from_end(25);
        assert_eq!(epochs.latest_epoch(), Some(2));
        epochs.truncate_from_start(12);
        assert_eq!(
            epochs.entries(),
            &[EpochEntry {
                epoch: 2,
                start_offset: 12
            }]
        );
        // A new epoch after truncation replaces what was written past its start.
        let mut epochs = three_epochs();
        epochs.truncate_from_end(20);
        epochs.assign(7, 20);
        assert_eq!(epochs.end_offset_for(2, 30), (2, 20));
    }

    #[test]
    fn the_file_round_trips_and_damage_is_ignored() {
        let fs = SimFs::new();
        let dir = Path::new("/t-0");
        fs.create_dir_all(dir).unwrap();
        assert_eq!(LeaderEpochs::read(&fs, dir).unwrap(), None);
        three_epochs().write(&fs, dir).unwrap();
        assert_eq!(LeaderEpochs::read(&fs, dir).unwrap(), Some(three_epochs()));
        let path = names::leader_epochs_file(dir);
        let mut bytes = fs.contents(&path).unwrap();
        bytes[12] ^= 1;
        fs.set_contents(&path, &bytes).unwrap();
        assert_eq!(LeaderEpochs::read(&fs, dir).unwrap(), None);
        // A count claiming more entries than the file holds is refused before allocating.
        let mut bytes = three_epochs().encode();
        bytes[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(LeaderEpochs::decode(&bytes, &path).is_err());
    }
}
