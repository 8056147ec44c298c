//! The sparse time index of a segment: (timestamp, relative offset) pairs with strictly
//! increasing timestamps. An entry is added beside an offset index entry when the segment's
//! largest timestamp has grown since the last entry, and once more when the segment is
//! flushed or rolled, so the last entry always holds the segment's largest timestamp
//! (retention and ListOffsets read it without scanning the log). Like Kafka's `TimeIndex`.
//!
//! The offset in an entry is the base offset of the first batch that reached that
//! timestamp. Derived data, rebuilt by recovery.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Result, io_at};
use crate::fs::LogFile;

/// Bytes of one entry: timestamp i64, relative offset u32 (big endian).
pub const TIME_INDEX_ENTRY_BYTES: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

#[derive(Debug)]
pub struct TimeIndex {
    path: PathBuf,
    file: Arc<dyn LogFile>,
    entries: Vec<TimeEntry>,
    written: usize,
}

impl TimeIndex {
    /// An index with no entries over `file`, whose content is discarded.
    pub fn empty(path: PathBuf, file: Arc<dyn LogFile>) -> Result<TimeIndex> {
        file.set_len(0).map_err(io_at(&path))?;
        Ok(TimeIndex {
            path,
            file,
            entries: Vec::new(),
            written: 0,
        })
    }

    /// Load the entries if they are consistent with a segment of `offset_count` offsets;
    /// `None` means: rebuild it.
    pub fn load(
        path: PathBuf,
        file: Arc<dyn LogFile>,
        offset_count: u64,
    ) -> Result<Option<TimeIndex>> {
        let len = file.len().map_err(io_at(&path))?;
        let max_entries = offset_count.saturating_add(1);
        if len % TIME_INDEX_ENTRY_BYTES as u64 != 0
            || len / TIME_INDEX_ENTRY_BYTES as u64 > max_entries
        {
            return Ok(None);
        }
        let mut bytes = vec![0u8; len as usize];
        file.read_at(&mut bytes, 0).map_err(io_at(&path))?;
        let entries: Vec<TimeEntry> = bytes
            .chunks_exact(TIME_INDEX_ENTRY_BYTES)
            .map(|c| TimeEntry {
                timestamp: i64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
                relative_offset: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
            })
            .collect();
        let increasing = entries.windows(2).all(|w| {
            w[0].timestamp < w[1].timestamp && w[0].relative_offset <= w[1].relative_offset
        });
        let in_range = entries
            .last()
            .is_none_or(|e| u64::from(e.relative_offset) < offset_count);
        if !increasing || !in_range {
            return Ok(None);
        }
        let written = entries.len();
        Ok(Some(TimeIndex {
            path,
            file,
            entries,
            written,
        }))
    }

    /// Add an entry if `timestamp` is above the last one.
    pub fn maybe_append(&mut self, entry: TimeEntry) {
        if self
            .entries
            .last()
            .is_none_or(|last| entry.timestamp > last.timestamp)
        {
            self.entries.push(entry);
        }
    }

    /// The last entry whose timestamp is at or below `timestamp`.
    pub fn lookup(&self, timestamp: i64) -> Option<TimeEntry> {
        let after = self.entries.partition_point(|e| e.timestamp <= timestamp);
        after.checked_sub(1).map(|i| self.entries[i])
    }

    pub fn last(&self) -> Option<TimeEntry> {
        self.entries.last().copied()
    }

    /// Write the entries not yet in the file, in one write.
    pub fn write_pending(&mut self) -> Result<()> {
        if self.written == self.entries.len() {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity((self.entries.len() - self.written) * 12);
        for e in &self.entries[self.written..] {
            bytes.extend_from_slice(&e.timestamp.to_be_bytes());
            bytes.extend_from_slice(&e.relative_offset.to_be_bytes());
        }
        let at = (self.written * TIME_INDEX_ENTRY_BYTES) as u64;
        self.file.write_at(&bytes, at).map_err(io_at(&self.path))?;
        self.written = self.entries.len();
        Ok(())
    }

    pub fn file(&self) -> &Arc<dyn LogFile> {
        &self.file
    }

    pub fn path(&self) -> &PathBuf {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fs::FileSystem;
    use crate::sim_fs::SimFs;
    use std::path::Path;

    #[test]
    fn only_growing_timestamps_are_indexed_and_lookup_finds_the_floor() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/p")).unwrap();
        let path = PathBuf::from("/p/0.timeindex");
        let mut idx = TimeIndex::empty(path.clone(), fs.open(&path, true).unwrap()).unwrap();
        idx.maybe_append(TimeEntry {
            timestamp: 100,
            relative_offset: 0,
        });
        idx.maybe_append(TimeEntry {
            timestamp: 90,
            relative_offset: 5,
        });
        idx.maybe_append(TimeEntry {
            timestamp: 200,
            relative_offset: 10,
        });
        assert_eq!(idx.lookup(99), None);
        assert_eq!(idx.lookup(150).unwrap().relative_offset, 0);
        assert_eq!(idx.lookup(200).unwrap().relative_offset, 10);
        idx.write_pending().unwrap();
        let loaded = TimeIndex::load(path.clone(), fs.open(&path, false).unwrap(), 11).unwrap();
        assert_eq!(
            loaded.unwrap().last(),
            Some(TimeEntry {
                timestamp: 200,
                relative_offset: 10
            })
        );
        assert!(
            TimeIndex::load(path.clone(), fs.open(&path, false).unwrap(), 10)
                .unwrap()
                .is_none()
        );
    }
}
