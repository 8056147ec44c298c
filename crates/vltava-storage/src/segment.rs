//! One segment of a partition log: a `.log` file of concatenated v2 batches starting at
//! `base_offset`, with its offset index and time index.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::BatchHeader;
use crate::error::{Result, io_at};
use crate::fs::{FileSystem, LogFile};
use crate::names;
use crate::offset_index::{OffsetEntry, OffsetIndex};
use crate::reader::{ChunkReader, RECOVERY_CHUNK_BYTES, SCAN_CHUNK_BYTES};
use crate::time_index::{TimeEntry, TimeIndex};

/// Positions in the offset index are u32, so no segment may grow past this.
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;

#[derive(Debug)]
pub struct Segment {
    pub base_offset: i64,
    /// Last offset in the segment plus one (`base_offset` when empty).
    pub next_offset: i64,
    /// Bytes of whole batches in the log file.
    pub size: u64,
    log_path: PathBuf,
    log: Arc<dyn LogFile>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_index_entry: u64,
    /// Largest batch max timestamp so far and the base offset of the batch holding it;
    /// -1 / base_offset before any batch.
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    /// When the first batch was appended (or when the log was opened, after a restart):
    /// `segment.ms` counts from here.
    pub rolling_since_ms: Option<i64>,
}

/// Where a read starts and how many bytes it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub position: u64,
    pub len: usize,
}

impl Segment {
    fn open_files(
        fs: &dyn FileSystem,
        dir: &Path,
        base: i64,
    ) -> Result<[(PathBuf, Arc<dyn LogFile>); 3]> {
        let paths = [
            names::log_file(dir, base),
            names::offset_index_file(dir, base),
            names::time_index_file(dir, base),
        ];
        let open = |p: PathBuf| -> Result<(PathBuf, Arc<dyn LogFile>)> {
            let file = fs.open(&p, true).map_err(io_at(&p))?;
            Ok((p, file))
        };
        let [a, b, c] = paths;
        Ok([open(a)?, open(b)?, open(c)?])
    }

    fn assemble(
        base: i64,
        files: [(PathBuf, Arc<dyn LogFile>); 3],
        oi: OffsetIndex,
        ti: TimeIndex,
    ) -> Segment {
        let [(log_path, log), _, _] = files;
        Segment {
            base_offset: base,
            next_offset: base,
            size: 0,
            log_path,
            log,
            offset_index: oi,
            time_index: ti,
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base,
            rolling_since_ms: None,
        }
    }

    /// A new, empty segment (any files already at its name are emptied).
    pub fn create(fs: &dyn FileSystem, dir: &Path, base: i64) -> Result<Segment> {
        let files = Self::open_files(fs, dir, base)?;
        files[0].1.set_len(0).map_err(io_at(&files[0].0))?;
        let oi = OffsetIndex::empty(files[1].0.clone(), files[1].1.clone())?;
        let ti = TimeIndex::empty(files[2].0.clone(), files[2].1.clone())?;
        Ok(Self::assemble(base, files, oi, ti))
    }

    /// Open a segment known to be durable and whole (below the recovery point), ending at
    /// or (if cleaned) before `next_offset`. Its indexes are trusted if consistent; `None` means: recover it.
    pub fn load_trusted(
        fs: &dyn FileSystem,
        dir: &Path,
        base: i64,
        next_offset: i64,
    ) -> Result<Option<Segment>> {
        let files = Self::open_files(fs, dir, base)?;
        let size = files[0].1.len().map_err(io_at(&files[0].0))?;
        let count = (next_offset - base) as u64;
        let oi = OffsetIndex::load(files[1].0.clone(), files[1].1.clone(), size, count)?;
        let ti = TimeIndex::load(files[2].0.clone(), files[2].1.clone(), count)?;
        let (Some(oi), Some(ti)) = (oi, ti) else {
            return Ok(None);
        };
        let mut segment = Self::assemble(base, files, oi, ti);
        segment.size = size;
        if let Some(last) = segment.time_index.last() {
            segment.max_timestamp = last.timestamp;
            segment.offset_of_max_timestamp = base + i64::from(last.relative_offset);
        }
        // Check the tail: the batches after the last index entry must end exactly at the
        // file's end and at `next_offset`. A bounded scan, not a full one.
        let mut position = segment
            .offset_index
            .last()
            .map_or(0, |e| u64::from(e.position));
        let mut reader = ChunkReader::new(&*segment.log, &segment.log_path, size, SCAN_CHUNK_BYTES);
        let mut end_offset = base;
        while position < size {
            let Ok(header) = reader.header(position) else {
                return Ok(None);
            };
            position += header.total_size() as u64;
            end_offset = header.last_offset() + 1;
        }
        // A cleaned segment may end before the next one starts (its last batches removed).
        if position != size || end_offset > next_offset || size == 0 {
            return Ok(None);
        }
        segment.next_offset = end_offset;
        Ok(Some(segment))
    }

    /// Calls `f` with every batch header in the segment, reading headers only (a chunk per
    /// header at most), never the records.
    pub fn for_each_header(&self, f: &mut dyn FnMut(&BatchHeader)) -> Result<()> {
        let mut reader = ChunkReader::new(&*self.log, &self.log_path, self.size, SCAN_CHUNK_BYTES);
        let mut position = 0;
        while position < self.size {
            let header = reader.header(position)?;
            f(&header);
            position += header.total_size() as u64;
        }
        Ok(())
    }

    /// Open a segment and keep its longest valid prefix: whole batches with a correct
    /// CRC-32C and increasing offsets from `base` (contiguous unless the log cleaner removed
    /// whole batches; power loss cannot make a gap inside one file, whose surviving bytes
    /// are always a prefix of what was written). Everything after is truncated,
    /// and the indexes are rebuilt. Returns the segment and whether bytes were cut.
    pub fn recover(
        fs: &dyn FileSystem,
        dir: &Path,
        base: i64,
        index_interval_bytes: u32,
    ) -> Result<(Segment, bool)> {
        let files = Self::open_files(fs, dir, base)?;
        let file_len = files[0].1.len().map_err(io_at(&files[0].0))?;
        let oi = OffsetIndex::empty(files[1].0.clone(), files[1].1.clone())?;
        let ti = TimeIndex::empty(files[2].0.clone(), files[2].1.clone())?;
        let mut segment = Self::assemble(base, files, oi, ti);
        let log = segment.log.clone();
        let path = segment.log_path.clone();
        let mut reader = ChunkReader::new(
            &*log,
            &path,
            file_len.min(SEGMENT_BYTES_MAX),
            RECOVERY_CHUNK_BYTES,
        );
        let mut position = 0u64;
        while let Some(header) = reader.checked_batch(position)? {
            if header.base_offset < segment.next_offset {
                break;
            }
            segment.index_batch(&header, position, index_interval_bytes);
            position += header.total_size() as u64;
        }
        let truncated = position < file_len;
        if truncated {
            tracing::warn!(path = %path.display(), position, file_len, "truncating log segment at first invalid batch");
            log.set_len(position).map_err(io_at(&path))?;
        }
        segment.size = position;
        segment.write_indexes()?;
        Ok((segment, truncated))
    }

    /// Account for one batch now at `position` in the log file: offsets, timestamps, and
    /// an index entry every `index_interval_bytes` (Kafka `LogSegment.append`).
    pub fn index_batch(&mut self, header: &BatchHeader, position: u64, index_interval_bytes: u32) {
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.base_offset;
        }
        if self.bytes_since_index_entry > u64::from(index_interval_bytes) {
            self.offset_index.append(OffsetEntry {
                relative_offset: self.relative(header.base_offset),
                position: position as u32,
            });
            self.add_max_time_entry();
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += header.total_size() as u64;
        self.next_offset = header.last_offset() + 1;
        self.size = position + header.total_size() as u64;
    }

    fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset) as u32
    }

    fn add_max_time_entry(&mut self) {
        if self.max_timestamp >= 0 {
            let relative_offset = self.relative(self.offset_of_max_timestamp);
            self.time_index.maybe_append(TimeEntry {
                timestamp: self.max_timestamp,
                relative_offset,
            });
        }
    }

    /// Write `bytes` (whole batches, offsets assigned) at the end of the log file in one
    /// write, then index them.
    pub fn append(&mut self, bytes: &[u8], index_interval_bytes: u32, now_ms: i64) -> Result<()> {
        self.log.append(bytes).map_err(io_at(&self.log_path))?;
        let start = self.size;
        let mut at = 0usize;
        while at < bytes.len() {
            let header = BatchHeader::parse(&bytes[at..])?;
            self.index_batch(&header, start + at as u64, index_interval_bytes);
            at += header.total_size();
        }
        self.rolling_since_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Bring the index files up to date, with a final time index entry holding the
    /// largest timestamp (before a flush or when the segment is rolled).
    pub fn write_indexes(&mut self) -> Result<()> {
        self.add_max_time_entry();
        self.offset_index.write_pending()?;
        self.time_index.write_pending()
    }

    /// The log file, with its path: what a data flush fsyncs.
    pub fn log_file(&self) -> (PathBuf, Arc<dyn LogFile>) {
        (self.log_path.clone(), self.log.clone())
    }

    /// The files a full flush fsyncs, with their paths.
    pub fn files(&self) -> [(PathBuf, Arc<dyn LogFile>); 3] {
        [
            (self.log_path.clone(), self.log.clone()),
            (
                self.offset_index.path().clone(),
                self.offset_index.file().clone(),
            ),
            (
                self.time_index.path().clone(),
                self.time_index.file().clone(),
            ),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Position of the first batch whose last offset is at or above `offset`, scanning from
    /// the index entry below it; `None` if no batch in the segment reaches it.
    pub fn position_of(&self, offset: i64) -> Result<Option<u64>> {
        let entry = self
            .offset_index
            .lookup(self.relative(offset.max(self.base_offset)));
        let mut position = entry.map_or(0, |e| u64::from(e.position));
        let mut reader = ChunkReader::new(&*self.log, &self.log_path, self.size, SCAN_CHUNK_BYTES);
        while position < self.size {
            let header = reader.header(position)?;
            if header.last_offset() >= offset {
                return Ok(Some(position));
            }
            position += header.total_size() as u64;
        }
        Ok(None)
    }

    /// The whole batches from `start_offset`, cut before the first batch reaching
    /// `max_offset` and after at most `max_bytes` (but at least one batch if `min_one_batch`).
    pub fn read_range(
        &self,
        start_offset: i64,
        max_offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Range> {
        let Some(start) = self.position_of(start_offset)? else {
            return Ok(Range {
                position: self.size,
                len: 0,
            });
        };
        let end = match max_offset < self.next_offset {
            true => self.position_of(max_offset)?.unwrap_or(self.size),
            false => self.size,
        };
        if end <= start {
            return Ok(Range {
                position: start,
                len: 0,
            });
        }
        let limit = start.saturating_add(max_bytes as u64);
        let end = if limit >= end {
            end
        } else {
            self.batch_boundary_at_or_below(start, limit, min_one_batch)?
        };
        Ok(Range {
            position: start,
            len: (end - start) as usize,
        })
    }

    /// The last batch boundary in `[start, limit]`, scanning from the index entry below
    /// `limit`; with `min_one_batch` at least the end of the batch at `start`.
    fn batch_boundary_at_or_below(
        &self,
        start: u64,
        limit: u64,
        min_one_batch: bool,
    ) -> Result<u64> {
        let entry = self
            .offset_index
            .lookup_position(limit.min(u64::from(u32::MAX)) as u32);
        let mut position = entry.map_or(start, |e| u64::from(e.position).max(start));
        let mut reader = ChunkReader::new(&*self.log, &self.log_path, self.size, SCAN_CHUNK_BYTES);
        loop {
            let next = position + reader.header(position)?.total_size() as u64;
            if next > limit {
                return Ok(if position == start && min_one_batch {
                    next
                } else {
                    position
                });
            }
            position = next;
        }
    }

    /// The first batch whose max timestamp is at or above `timestamp`: (base offset, its
    /// max timestamp).
    pub fn find_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        // Every batch before the time index entry's batch has a smaller max timestamp.
        let from = self
            .time_index
            .lookup(timestamp)
            .map_or(self.base_offset, |e| {
                self.base_offset + i64::from(e.relative_offset)
            });
        let Some(mut position) = self.position_of(from)? else {
            return Ok(None);
        };
        let mut reader = ChunkReader::new(&*self.log, &self.log_path, self.size, SCAN_CHUNK_BYTES);
        while position < self.size {
            let header = reader.header(position)?;
            if header.max_timestamp >= timestamp {
                return Ok(Some((header.base_offset, header.max_timestamp)));
            }
            position += header.total_size() as u64;
        }
        Ok(None)
    }

    /// Remove the segment's files. Missing index files are fine (they are derived).
    pub fn delete_files(&self, fs: &dyn FileSystem) -> Result<()> {
        for (path, _) in self.files() {
            match fs.remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_at(&path)(e)),
                _ => {}
            }
        }
        Ok(())
    }
}
