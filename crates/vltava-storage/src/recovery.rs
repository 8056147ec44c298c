//! Opening a partition directory: find the segments by name, clean up leftovers, trust the
//! segments below the checkpointed recovery point (after a consistency check of their
//! indexes and tail), and scan the rest batch by batch, truncating at the first torn,
//! corrupt or non-contiguous batch (Kafka `LogLoader`, `LogSegment.recover`).

use std::path::{Path, PathBuf};

use crate::checkpoint::Checkpoint;
use crate::config::LogConfig;
use crate::error::{Result, io_at};
use crate::fs::FileSystem;
use crate::names::{self, FileKind};
use crate::segment::Segment;

#[derive(Debug)]
pub struct Recovered {
    pub segments: Vec<Segment>,
    pub log_start_offset: i64,
}

/// Segment base offsets found in `dir`, after removing leftovers and orphaned indexes.
fn segment_bases(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    let mut indexes: Vec<(i64, PathBuf)> = Vec::new();
    for path in fs.read_dir(dir).map_err(io_at(dir))? {
        match names::classify(&path) {
            FileKind::Log(base) => bases.push(base),
            FileKind::OffsetIndex(base) | FileKind::TimeIndex(base) => indexes.push((base, path)),
            FileKind::Leftover => fs.remove_file(&path).map_err(io_at(&path))?,
            FileKind::Checkpoint | FileKind::Unknown => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in indexes {
        if bases.binary_search(&base).is_err() {
            fs.remove_file(&path).map_err(io_at(&path))?;
        }
    }
    Ok(bases)
}

fn delete_segment_files(fs: &dyn FileSystem, dir: &Path, base: i64) -> Result<()> {
    for path in [
        names::log_file(dir, base),
        names::offset_index_file(dir, base),
        names::time_index_file(dir, base),
    ] {
        if fs.exists(&path) {
            fs.remove_file(&path).map_err(io_at(&path))?;
        }
    }
    Ok(())
}

pub fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    config: &LogConfig,
    now_ms: i64,
) -> Result<Recovered> {
    fs.create_dir_all(dir).map_err(io_at(dir))?;
    let mut bases = segment_bases(fs, dir)?;
    let checkpoint = Checkpoint::read(fs, dir)?;
    // Segments wholly below the log start offset were being deleted when a crash came.
    if let Some(start) = checkpoint.map(|c| c.log_start_offset) {
        while bases.len() >= 2 && bases[1] <= start {
            delete_segment_files(fs, dir, bases.remove(0))?;
        }
    }
    let recovery_point = checkpoint.map_or(i64::MIN, |c| c.recovery_point);
    // The segment holding the recovery point and all after it may hold unsynced bytes.
    let first_unsafe = bases
        .partition_point(|b| *b <= recovery_point)
        .saturating_sub(1);
    let interval = config.index_interval_bytes;
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
    for (i, &base) in bases.iter().enumerate() {
        // A gap after a segment lying wholly below the recovery point was made by the log
        // cleaner (that segment was fsynced, so it cannot have lost its tail); anywhere else
        // a gap means lost unsynced data, and nothing after it may be kept.
        let gap_allowed = i <= first_unsafe;
        let contiguous = segments.last().is_none_or(|prev| {
            prev.next_offset == base || (gap_allowed && prev.next_offset < base)
        });
        let trusted = match (i < first_unsafe && contiguous, bases.get(i + 1)) {
            (true, Some(&next)) => Segment::load_trusted(fs, dir, base, next)?,
            _ => None,
        };
        let (segment, truncated) = match trusted {
            Some(segment) => (segment, false),
            None if contiguous => Segment::recover(fs, dir, base, interval)?,
            None => {
                tracing::warn!(dir = %dir.display(), base, "segment does not follow the previous one; dropping it and all after");
                (Segment::create(fs, dir, base)?, true)
            }
        };
        // Empty segments below the recovery point are the cleaner's (all records removed).
        let keep = contiguous && (segments.is_empty() || !segment.is_empty() || i < first_unsafe);
        if keep {
            segments.push(segment);
        } else {
            delete_segment_files(fs, dir, base)?;
        }
        if truncated || !keep {
            for &later in &bases[i + 1..] {
                delete_segment_files(fs, dir, later)?;
            }
            break;
        }
    }
    finish(fs, dir, segments, checkpoint, first_unsafe, now_ms)
}

/// Make the log whole: at least one segment, the log start offset inside the log, and the
/// recovered state durable before anything is served.
fn finish(
    fs: &dyn FileSystem,
    dir: &Path,
    mut segments: Vec<Segment>,
    checkpoint: Option<Checkpoint>,
    first_unsafe: usize,
    now_ms: i64,
) -> Result<Recovered> {
    let first_base = segments.first().map_or(0, |s| s.base_offset);
    let mut log_start = checkpoint.map_or(first_base, |c| c.log_start_offset.max(first_base));
    let log_end = segments.last().map_or(log_start, |s| s.next_offset);
    if segments.is_empty() || log_start > log_end {
        // The bytes up to the log start offset were lost with unsynced data; start afresh
        // there (Kafka `truncateFullyAndStartAt`).
        for segment in segments.drain(..) {
            segment.delete_files(fs)?;
        }
        segments.push(Segment::create(fs, dir, log_start)?);
    }
    log_start = log_start.max(segments[0].base_offset);
    for segment in segments.iter().skip(first_unsafe.min(segments.len() - 1)) {
        for (path, file) in segment.files() {
            file.sync_data().map_err(io_at(&path))?;
        }
    }
    fs.sync_dir(dir).map_err(io_at(dir))?;
    if let Some(active) = segments.last_mut().filter(|s| !s.is_empty()) {
        // The first-append time is not persisted: segment.ms counts from the open.
        active.rolling_since_ms = Some(now_ms);
    }
    Ok(Recovered {
        segments,
        log_start_offset: log_start,
    })
}
