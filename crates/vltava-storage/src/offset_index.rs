//! The sparse offset index of a segment: (relative offset, position) pairs, one every
//! `index.interval.bytes` of log, so a read finds its start with a binary search and a
//! short scan of batch headers.
//!
//! Entries live in memory (8 bytes each, a few thousand per GiB of log at the default
//! interval) and are written to the file in one `write_at` per flush or roll, so appends do
//! not pay a syscall for the index. The file is derived data: recovery rebuilds it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Result, io_at};
use crate::fs::LogFile;

/// Bytes of one entry: relative offset u32, position u32 (big endian).
pub const OFFSET_INDEX_ENTRY_BYTES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    /// Base offset of the indexed batch minus the segment's base offset.
    pub relative_offset: u32,
    /// Byte position of that batch in the segment's log file.
    pub position: u32,
}

#[derive(Debug)]
pub struct OffsetIndex {
    path: PathBuf,
    file: Arc<dyn LogFile>,
    entries: Vec<OffsetEntry>,
    /// Entries already written to the file.
    written: usize,
}

impl OffsetIndex {
    /// An index with no entries over `file`, whose content is discarded.
    pub fn empty(path: PathBuf, file: Arc<dyn LogFile>) -> Result<OffsetIndex> {
        file.set_len(0).map_err(io_at(&path))?;
        Ok(OffsetIndex {
            path,
            file,
            entries: Vec::new(),
            written: 0,
        })
    }

    /// Load the entries from `file` if they are consistent with a segment of `log_bytes`
    /// bytes and `offset_count` offsets; `None` means: rebuild it.
    pub fn load(
        path: PathBuf,
        file: Arc<dyn LogFile>,
        log_bytes: u64,
        offset_count: u64,
    ) -> Result<Option<OffsetIndex>> {
        let len = file.len().map_err(io_at(&path))?;
        if len % OFFSET_INDEX_ENTRY_BYTES as u64 != 0 || len > log_bytes {
            return Ok(None);
        }
        let mut bytes = vec![0u8; len as usize];
        file.read_at(&mut bytes, 0).map_err(io_at(&path))?;
        let entries: Vec<OffsetEntry> = bytes
            .chunks_exact(OFFSET_INDEX_ENTRY_BYTES)
            .map(|c| OffsetEntry {
                relative_offset: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                position: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let increasing = entries
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position);
        let in_range = entries.last().is_none_or(|e| {
            u64::from(e.relative_offset) < offset_count && u64::from(e.position) < log_bytes
        });
        if !increasing || !in_range {
            return Ok(None);
        }
        let written = entries.len();
        Ok(Some(OffsetIndex {
            path,
            file,
            entries,
            written,
        }))
    }

    /// Add an entry; callers add them in offset and position order.
    pub fn append(&mut self, entry: OffsetEntry) {
        debug_assert!(self.entries.last().is_none_or(|last| {
            last.relative_offset < entry.relative_offset && last.position < entry.position
        }));
        self.entries.push(entry);
    }

    /// The last entry at or below `relative_offset`.
    pub fn lookup(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let after = self
            .entries
            .partition_point(|e| e.relative_offset <= relative_offset);
        after.checked_sub(1).map(|i| self.entries[i])
    }

    /// The last entry at or below `position`.
    pub fn lookup_position(&self, position: u32) -> Option<OffsetEntry> {
        let after = self.entries.partition_point(|e| e.position <= position);
        after.checked_sub(1).map(|i| self.entries[i])
    }

    /// Write the entries not yet in the file, in one write.
    pub fn write_pending(&mut self) -> Result<()> {
        if self.written == self.entries.len() {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity((self.entries.len() - self.written) * 8);
        for e in &self.entries[self.written..] {
            bytes.extend_from_slice(&e.relative_offset.to_be_bytes());
            bytes.extend_from_slice(&e.position.to_be_bytes());
        }
        let at = (self.written * OFFSET_INDEX_ENTRY_BYTES) as u64;
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

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn last(&self) -> Option<OffsetEntry> {
        self.entries.last().copied()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fs::FileSystem;
    use crate::sim_fs::SimFs;
    use std::path::Path;

    fn index(fs: &SimFs) -> OffsetIndex {
        fs.create_dir_all(Path::new("/p")).unwrap();
        let path = PathBuf::from("/p/0.index");
        OffsetIndex::empty(path.clone(), fs.open(&path, true).unwrap()).unwrap()
    }

    #[test]
    fn lookup_finds_the_last_entry_at_or_below() {
        let fs = SimFs::new();
        let mut idx = index(&fs);
        for i in 1..=10u32 {
            idx.append(OffsetEntry {
                relative_offset: i * 10,
                position: i * 1000,
            });
        }
        assert_eq!(idx.lookup(5), None);
        assert_eq!(idx.lookup(10).unwrap().position, 1000);
        assert_eq!(idx.lookup(59).unwrap().position, 5000);
        assert_eq!(idx.lookup(1000).unwrap().position, 10000);
        assert_eq!(idx.lookup_position(4999).unwrap().relative_offset, 40);
    }

    #[test]
    fn written_entries_load_back_and_inconsistent_ones_do_not() {
        let fs = SimFs::new();
        let mut idx = index(&fs);
        idx.append(OffsetEntry {
            relative_offset: 3,
            position: 100,
        });
        idx.append(OffsetEntry {
            relative_offset: 9,
            position: 900,
        });
        idx.write_pending().unwrap();
        let path = idx.path().clone();
        let file = fs.open(&path, false).unwrap();
        let loaded = OffsetIndex::load(path.clone(), file.clone(), 1000, 10)
            .unwrap()
            .unwrap();
        assert_eq!(loaded.len(), 2);
        // The log is shorter than an entry's position: the index is stale.
        assert!(
            OffsetIndex::load(path.clone(), file.clone(), 900, 10)
                .unwrap()
                .is_none()
        );
        file.set_len(12).unwrap();
        assert!(OffsetIndex::load(path, file, 1000, 10).unwrap().is_none());
    }
}
