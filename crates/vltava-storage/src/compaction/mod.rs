//! Log compaction (Kafka's log cleaner): in a log whose `cleanup.policy` has `compact`,
//! keep only the latest record of each key in the closed segments, keep every surviving
//! record's offset (gaps are fine), and remove tombstones once their delete horizon passed.
//!
//! One clean:
//! 1. [`Log::prepare_clean`] (under the broker's lock) picks the cleanable range: the closed
//!    segments from the log start, all below the recovery point (durable) and, with
//!    `min.compaction.lag.ms`, holding no record newer than the lag. It cleans only if the
//!    dirty part (segments written since the last clean) is at least
//!    `min.cleanable.dirty.ratio` of the range, or the oldest dirty segment is older than
//!    `max.compaction.lag.ms`, or a tombstone's delete horizon has passed.
//! 2. [`PreparedClean::run`] (without the lock: closed segments are immutable) maps every
//!    key of the range to the offset of its latest record, then filters each segment into
//!    `{base}.log.cleaned` (only segments that change), fsyncs it.
//! 3. [`Log::complete_clean`] (under the lock) swaps the cleaned files in, one segment at a
//!    time in offset order; see docs/storage-format.md, "Compaction", for the crash states.
//!
//! Every record removed is superseded by a record of the same key at a higher offset, or is
//! a tombstone past its horizon. Swapping in offset order, each swap durable before the
//! next, means that at every crash point the superseding record is still on disk: a crash
//! never resurrects an older value nor loses the latest one.
//!
//! Not cleaned, kept byte for byte: control batches, transactional batches (aborted
//! transactions' records are not removed: vltava has no transactions yet), and batches
//! whose records do not decompress (over [`DECOMPRESSED_BATCH_BYTES_MAX`]) or parse.
//! Records without a key are kept: Kafka's cleaner drops them, but vltava does not yet refuse
//! them at produce time on compacted topics, and the cleaner drops nothing it cannot key.

pub(crate) mod codec;
mod filter;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use codec::{DECOMPRESSED_BATCH_BYTES_MAX, decompress as decompress_records};
use filter::{Decoded, Judge, KEY_ENTRY_OVERHEAD_BYTES, KeyMap, Outcome};

use crate::error::{Result, StorageError, io_at};
use crate::fs::{FileSystem, LogFile};
use crate::log::Log;
use crate::names;
use crate::reader::{ChunkReader, RECOVERY_CHUNK_BYTES};
use crate::segment::Segment;

/// Bytes gathered before one write to a `.cleaned` file.
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// How a clean may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanOptions {
    /// Memory for the key map (Kafka's `log.cleaner.dedupe.buffer.size`). A range whose keys
    /// do not fit is cleaned in part: the segments whose keys fit (at least one).
    pub key_map_bytes_max: usize,
    /// Clean now whatever the dirty ratio and the lags say (tests, admin tools).
    pub force: bool,
}

impl Default for CleanOptions {
    fn default() -> Self {
        CleanOptions {
            key_map_bytes_max: 128 * 1024 * 1024,
            force: false,
        }
    }
}

/// What a clean did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Closed segments in the cleaned range, and their bytes (each read twice: keys, filter).
    pub segments_scanned: usize,
    pub bytes_scanned: u64,
    /// Segments replaced by a cleaned copy, and that copy's bytes.
    pub segments_rewritten: usize,
    pub bytes_written: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
    pub batches_dropped: u64,
    /// Microseconds spent mapping keys and writing the cleaned copies (without the lock),
    /// for the cleaner's throughput: `bytes_scanned` per this time.
    pub run_us: u64,
}

/// What the log remembers between cleans (in memory: after a restart everything is dirty,
/// so the first clean covers the whole log, as after a lost Kafka cleaner checkpoint).
#[derive(Debug, Default)]
pub(crate) struct CleanerState {
    /// Segments below this offset were cleaned and nothing was appended to them since.
    first_dirty_offset: i64,
    /// The earliest delete horizon of a tombstone left in the log.
    next_horizon_ms: Option<i64>,
}

#[derive(Debug)]
struct SegmentRef {
    base: i64,
    /// Base offset of the segment after it: the cleaned range ends here.
    end: i64,
    size: u64,
    path: PathBuf,
    file: Arc<dyn LogFile>,
}

/// A clean planned under the log's lock, to be run without it.
#[derive(Debug)]
pub struct PreparedClean {
    /// The log's truncation generation when the clean was planned.
    generation: u64,
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    segments: Vec<SegmentRef>,
    now_ms: i64,
    delete_retention_ms: i64,
    key_map_bytes_max: usize,
    log_failed: Arc<AtomicBool>,
}

/// One segment's cleaned copy, written and fsynced, waiting to be swapped in.
#[derive(Debug)]
struct Replacement {
    base: i64,
    old_size: u64,
    cleaned: PathBuf,
}

/// The result of [`PreparedClean::run`], for [`Log::complete_clean`].
#[derive(Debug)]
pub struct CleanedSegments {
    generation: u64,
    replacements: Vec<Replacement>,
    /// The cleaned range ends here (the next segment's base offset).
    end_offset: i64,
    next_horizon_ms: Option<i64>,
    stats: CleanStats,
}

impl Log {
    /// Clean the log if its config and state call for it (see the module docs); the whole
    /// clean under `&mut self`. The broker uses the three steps instead, so that appends
    /// go on while segments are filtered.
    pub fn clean(&mut self, now_ms: i64, options: CleanOptions) -> Result<CleanStats> {
        let Some(prepared) = self.prepare_clean(now_ms, options)? else {
            return Ok(CleanStats::default());
        };
        let cleaned = prepared.run()?;
        self.complete_clean(cleaned)
    }

    /// Pick the range to clean; `None` if the log is not compacted or not due.
    pub fn prepare_clean(
        &mut self,
        now_ms: i64,
        options: CleanOptions,
    ) -> Result<Option<PreparedClean>> {
        self.check_online()?;
        if !self.config.cleanup_policy.compact {
            return Ok(None);
        }
        let min_lag = self.config.min_compaction_lag_ms;
        let lag_bound = now_ms.saturating_sub(min_lag);
        let closed = &self.segments[..self.segments.len() - 1];
        // Without a lag, timestamps do not matter (a producer's clock may run ahead).
        let cleanable = closed
            .iter()
            .take_while(|s| {
                s.next_offset <= self.recovery_point
                    && (min_lag <= 0 || s.max_timestamp <= lag_bound)
            })
            .count();
        let range = &self.segments[..cleanable];
        let first_dirty = self.cleaner.first_dirty_offset;
        let dirty = range.iter().filter(|s| s.base_offset >= first_dirty);
        let dirty_bytes: u64 = dirty.clone().map(|s| s.size).sum();
        let total_bytes: u64 = range.iter().map(|s| s.size).sum();
        let ratio_met = dirty_bytes > 0
            && dirty_bytes as f64 >= self.config.min_cleanable_dirty_ratio * total_bytes as f64;
        let lag_passed = dirty.clone().next().is_some_and(|s| {
            s.max_timestamp >= 0 && now_ms - s.max_timestamp > self.config.max_compaction_lag_ms
        });
        let horizon_passed = self.cleaner.next_horizon_ms.is_some_and(|h| h <= now_ms);
        let due = ratio_met || lag_passed || horizon_passed || options.force;
        if cleanable == 0 || !due {
            return Ok(None);
        }
        let segments = (0..cleanable)
            .map(|i| {
                let [(path, file), _, _] = self.segments[i].files();
                SegmentRef {
                    base: self.segments[i].base_offset,
                    end: self.segments[i + 1].base_offset,
                    size: self.segments[i].size,
                    path,
                    file,
                }
            })
            .collect();
        Ok(Some(PreparedClean {
            generation: self.truncations,
            fs: self.fs.clone(),
            dir: self.dir.clone(),
            segments,
            now_ms,
            delete_retention_ms: self.config.delete_retention_ms.max(0),
            key_map_bytes_max: options.key_map_bytes_max,
            log_failed: self.failed_flag(),
        }))
    }

    /// Swap the cleaned segments in, in offset order, each durable before the next. A
    /// segment that changed meanwhile (deleted by retention) is left as it is.
    pub fn complete_clean(&mut self, cleaned: CleanedSegments) -> Result<CleanStats> {
        self.check_online()?;
        if !cleaned.replacements.is_empty() {
            // Recovery accepts gaps only below the checkpointed recovery point; the cleaned
            // range lies below the in-memory one, so make that durable first.
            self.checkpoint()?;
        }
        let mut swapped_all = true;
        for replacement in &cleaned.replacements {
            let index = self
                .segments
                .binary_search_by_key(&replacement.base, |s| s.base_offset);
            let still_there = index.ok().filter(|i| {
                *i + 1 < self.segments.len() && self.segments[*i].size == replacement.old_size
            });
            // A truncation since the clean was planned may have rewritten these offsets.
            let still_there = still_there.filter(|_| cleaned.generation == self.truncations);
            let result = match (still_there, swapped_all) {
                (Some(i), true) => self
                    .swap_segment(i, &replacement.cleaned)
                    .and_then(|()| self.remove_if_emptied(i)),
                _ => {
                    swapped_all = false;
                    remove_if_present(&*self.fs, &replacement.cleaned)
                }
            };
            self.offline_on_error(result)?;
        }
        if swapped_all {
            self.cleaner.first_dirty_offset = cleaned.end_offset;
            self.cleaner.next_horizon_ms = cleaned.next_horizon_ms;
        }
        Ok(cleaned.stats)
    }

    /// Replace the log file of segment `index` by `cleaned` (see "Compaction" in
    /// docs/storage-format.md): drop its indexes, rename, rebuild the indexes.
    fn swap_segment(&mut self, index: usize, cleaned: &std::path::Path) -> Result<()> {
        let (fs, dir) = (&*self.fs, self.dir.as_path());
        let base = self.segments[index].base_offset;
        let [(log_path, _), index_file, time_index_file] = self.segments[index].files();
        // Indexes of the old file must not survive next to the new one: remove them durably
        // first (they are derived data, rebuilt on open if missing).
        for (path, _) in [index_file, time_index_file] {
            remove_if_present(fs, &path)?;
        }
        fs.sync_dir(dir).map_err(io_at(dir))?;
        fs.rename(cleaned, &log_path).map_err(io_at(&log_path))?;
        fs.sync_dir(dir).map_err(io_at(dir))?;
        let (mut segment, truncated) =
            Segment::recover(fs, dir, base, self.config.index_interval_bytes)?;
        if segment.is_empty() {
            // Age an emptied segment like the records it held, for time retention under
            // compact,delete (Kafka keeps the cleaned file's modification time likewise).
            segment.max_timestamp = self.segments[index].max_timestamp;
        }
        if truncated {
            return Err(StorageError::Malformed {
                path: log_path,
                reason: "cleaned segment failed validation",
            });
        }
        for (path, file) in segment.files() {
            file.sync_data().map_err(io_at(&path))?;
        }
        fs.sync_dir(dir).map_err(io_at(dir))?;
        tracing::debug!(dir = %dir.display(), base, size = segment.size, "swapped in cleaned segment");
        self.segments[index] = segment;
        Ok(())
    }
}

impl Log {
    /// Drop segment `index` if cleaning left it without records and it is not the first: its
    /// offsets become a gap before the next segment, which reads already skip. The first
    /// segment stays even empty, so the log start offset never moves by compaction (a
    /// consumer at a compacted-away offset gets the next record, not OFFSET_OUT_OF_RANGE).
    /// A crash that undoes the removal leaves an empty segment below the recovery point,
    /// which recovery keeps.
    fn remove_if_emptied(&mut self, index: usize) -> Result<()> {
        if index == 0 || !self.segments[index].is_empty() {
            return Ok(());
        }
        let segment = self.segments.remove(index);
        segment.delete_files(&*self.fs)?;
        self.fs.sync_dir(&self.dir).map_err(io_at(&self.dir))?;
        tracing::debug!(dir = %self.dir.display(), base = segment.base_offset, "removed a segment the cleaner emptied");
        Ok(())
    }
}

fn remove_if_present(fs: &dyn FileSystem, path: &std::path::Path) -> Result<()> {
    match fs.remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_at(path)(e)),
        _ => Ok(()),
    }
}

impl PreparedClean {
    /// Map the keys and write the cleaned copies. Call without the log's lock. A failed
    /// write or fsync takes the log offline, as for appends.
    pub fn run(self) -> Result<CleanedSegments> {
        let started = std::time::Instant::now();
        let mut result = self.run_inner();
        if let Ok(cleaned) = &mut result {
            cleaned.stats.run_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        }
        if let Err(StorageError::Io { .. }) = &result {
            tracing::error!(dir = %self.dir.display(), "log cleaner I/O failed; taking the log offline");
            self.log_failed.store(true, Ordering::Release);
        }
        result
    }

    fn run_inner(&self) -> Result<CleanedSegments> {
        let (map, mapped) = self.build_key_map()?;
        let segments = &self.segments[..mapped];
        let mut cleaned = CleanedSegments {
            generation: self.generation,
            replacements: Vec::new(),
            end_offset: segments.last().map_or(0, |s| s.end),
            next_horizon_ms: None,
            stats: CleanStats::default(),
        };
        let judge = Judge {
            map: &map,
            now_ms: self.now_ms,
            delete_retention_ms: self.delete_retention_ms,
        };
        for segment in segments {
            cleaned.stats.segments_scanned += 1;
            cleaned.stats.bytes_scanned += segment.size;
            if let Some(replacement) = self.clean_segment(segment, judge, &mut cleaned)? {
                cleaned.stats.segments_rewritten += 1;
                cleaned.replacements.push(replacement);
            }
        }
        Ok(cleaned)
    }

    /// Key → latest offset over the range, and how many segments it covers: all, unless
    /// the keys outgrow `key_map_bytes_max` (then the segments before that, at least one).
    fn build_key_map(&self) -> Result<(KeyMap, usize)> {
        let (mut map, mut map_bytes) = (KeyMap::new(), 0usize);
        for (i, segment) in self.segments.iter().enumerate() {
            let mut keys = KeyMap::new();
            for_each_batch(segment, |batch, header, _| {
                if let Decoded::Records { raw, records } = filter::decode(batch, header) {
                    for record in &records {
                        if let Some(key) = Decoded::key(&raw, record) {
                            keys.insert(key.to_vec(), record.offset);
                        }
                    }
                }
                Ok(())
            })?;
            let added: usize = keys
                .keys()
                .filter(|k| !map.contains_key(*k))
                .map(|k| k.len() + KEY_ENTRY_OVERHEAD_BYTES)
                .sum();
            if i > 0 && map_bytes + added > self.key_map_bytes_max {
                return Ok((map, i));
            }
            map_bytes += added;
            map.extend(keys);
        }
        Ok((map, self.segments.len()))
    }

    /// Filter one segment; write a `.cleaned` copy only if some batch changes.
    fn clean_segment(
        &self,
        segment: &SegmentRef,
        judge: Judge<'_>,
        cleaned: &mut CleanedSegments,
    ) -> Result<Option<Replacement>> {
        let path = names::cleaned_log_file(&self.dir, segment.base);
        let mut writer: Option<CleanedWriter> = None;
        let stats = &mut cleaned.stats;
        let horizon = &mut cleaned.next_horizon_ms;
        for_each_batch(segment, |batch, header, position| {
            let verdict = filter::filter(batch, header, judge).map_err(io_at(&path))?;
            stats.records_removed += verdict.records_removed as u64;
            stats.tombstones_removed += verdict.tombstones_removed as u64;
            if let Some(h) = verdict.horizon {
                *horizon = Some(horizon.map_or(h, |earlier: i64| earlier.min(h)));
            }
            match (verdict.outcome, writer.as_mut()) {
                (Outcome::Keep, Some(w)) => w.write(batch),
                (Outcome::Keep, None) => Ok(()),
                (changed, _) => {
                    if writer.is_none() {
                        writer = Some(CleanedWriter::start(self, segment, &path, position)?);
                    }
                    let Some(w) = writer.as_mut() else {
                        return Ok(());
                    };
                    match changed {
                        Outcome::Rewrite(bytes) => w.write(&bytes),
                        _ => {
                            stats.batches_dropped += 1;
                            Ok(())
                        }
                    }
                }
            }
        })?;
        let Some(writer) = writer else {
            return Ok(None);
        };
        stats.bytes_written += writer.finish()?;
        Ok(Some(Replacement {
            base: segment.base,
            old_size: segment.size,
            cleaned: path,
        }))
    }
}

/// Calls `f` with every whole, CRC-checked batch of a closed segment. A batch that fails
/// the check stops the clean: the segment was durable and trusted, so this is corruption,
/// and the cleaner must not rewrite what it cannot read.
fn for_each_batch(
    segment: &SegmentRef,
    mut f: impl FnMut(&[u8], &crate::batch::BatchHeader, u64) -> Result<()>,
) -> Result<()> {
    let mut reader = ChunkReader::new(
        &*segment.file,
        &segment.path,
        segment.size,
        RECOVERY_CHUNK_BYTES,
    );
    let mut position = 0u64;
    while position < segment.size {
        let corrupt = || StorageError::Malformed {
            path: segment.path.clone(),
            reason: "invalid batch in a closed segment",
        };
        let header = reader.checked_batch(position)?.ok_or_else(corrupt)?;
        let batch = reader
            .bytes(position, header.total_size())?
            .ok_or_else(corrupt)?;
        f(batch, &header, position)?;
        position += header.total_size() as u64;
    }
    Ok(())
}

/// A `.cleaned` file being written with buffered appends.
struct CleanedWriter {
    path: PathBuf,
    file: Arc<dyn LogFile>,
    buffer: Vec<u8>,
    written: u64,
}

impl CleanedWriter {
    /// Create the file and copy into it the segment's first `prefix` bytes: the batches
    /// before the first one that changes.
    fn start(
        clean: &PreparedClean,
        segment: &SegmentRef,
        path: &std::path::Path,
        prefix: u64,
    ) -> Result<CleanedWriter> {
        let file = clean.fs.open(path, true).map_err(io_at(path))?;
        file.set_len(0).map_err(io_at(path))?;
        let mut writer = CleanedWriter {
            path: path.to_path_buf(),
            file,
            buffer: Vec::with_capacity(WRITE_BUFFER_BYTES),
            written: 0,
        };
        let mut copied = 0u64;
        while copied < prefix {
            let len = (prefix - copied).min(WRITE_BUFFER_BYTES as u64) as usize;
            let mut chunk = vec![0u8; len];
            segment
                .file
                .read_at(&mut chunk, copied)
                .map_err(io_at(&segment.path))?;
            writer.write(&chunk)?;
            copied += len as u64;
        }
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.file.append(&self.buffer).map_err(io_at(&self.path))?;
        self.written += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Write what is buffered and fsync; returns the file's size.
    fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.file.sync_data().map_err(io_at(&self.path))?;
        Ok(self.written)
    }
}
