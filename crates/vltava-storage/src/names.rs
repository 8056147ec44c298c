//! Every file name in a partition directory is built and parsed here, and nowhere else.
//!
//! Segment files are named by their base offset, zero-padded to 20 digits so that a
//! lexical sort is the offset order (Kafka `LogFileUtils`).

use std::path::{Path, PathBuf};

/// Extension of a segment's log file.
pub const LOG_SUFFIX: &str = ".log";
/// Extension of a segment's offset index.
pub const OFFSET_INDEX_SUFFIX: &str = ".index";
/// Extension of a segment's time index.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Suffix of a file being deleted; such leftovers are removed on open.
pub const DELETED_SUFFIX: &str = ".deleted";
/// Suffix of a segment file written by the log cleaner before it replaces the segment's
/// `.log` by rename; leftovers of an interrupted clean are removed on open.
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a file being written before an atomic rename; leftovers are removed on open.
pub const TEMP_SUFFIX: &str = ".tmp";
/// The partition checkpoint (log start offset and recovery point).
pub const CHECKPOINT_FILE: &str = "partition.checkpoint";
/// The leader epoch cache: where each leader epoch's data starts.
pub const LEADER_EPOCHS_FILE: &str = "leader-epoch.checkpoint";

/// Width of the zero-padded base offset in segment file names.
const OFFSET_DIGITS: usize = 20;

/// What a file in a partition directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Log(i64),
    OffsetIndex(i64),
    TimeIndex(i64),
    Checkpoint,
    /// A leftover of an interrupted operation: remove it.
    Leftover,
    /// Not ours: leave it alone.
    Unknown,
}

fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:0OFFSET_DIGITS$}{suffix}"))
}

pub fn log_file(dir: &Path, base_offset: i64) -> PathBuf {
    segment_file(dir, base_offset, LOG_SUFFIX)
}

pub fn offset_index_file(dir: &Path, base_offset: i64) -> PathBuf {
    segment_file(dir, base_offset, OFFSET_INDEX_SUFFIX)
}

pub fn time_index_file(dir: &Path, base_offset: i64) -> PathBuf {
    segment_file(dir, base_offset, TIME_INDEX_SUFFIX)
}

/// Where the log cleaner writes the cleaned copy of the segment at `base_offset`.
pub fn cleaned_log_file(dir: &Path, base_offset: i64) -> PathBuf {
    segment_file(dir, base_offset, &format!("{LOG_SUFFIX}{CLEANED_SUFFIX}"))
}

pub fn checkpoint_file(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}

pub fn checkpoint_temp_file(dir: &Path) -> PathBuf {
    dir.join(format!("{CHECKPOINT_FILE}{TEMP_SUFFIX}"))
}

pub fn leader_epochs_file(dir: &Path) -> PathBuf {
    dir.join(LEADER_EPOCHS_FILE)
}

pub fn leader_epochs_temp_file(dir: &Path) -> PathBuf {
    dir.join(format!("{LEADER_EPOCHS_FILE}{TEMP_SUFFIX}"))
}

/// Classify a directory entry by its file name.
pub fn classify(path: &Path) -> FileKind {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return FileKind::Unknown;
    };
    if name == CHECKPOINT_FILE || name == LEADER_EPOCHS_FILE {
        return FileKind::Checkpoint;
    }
    if [DELETED_SUFFIX, CLEANED_SUFFIX, TEMP_SUFFIX]
        .iter()
        .any(|s| name.ends_with(s))
    {
        return FileKind::Leftover;
    }
    let parsed = [
        (LOG_SUFFIX, FileKind::Log as fn(i64) -> FileKind),
        (OFFSET_INDEX_SUFFIX, FileKind::OffsetIndex),
        (TIME_INDEX_SUFFIX, FileKind::TimeIndex),
    ]
    .into_iter()
    .find_map(|(suffix, kind)| Some(kind(parse_base_offset(name.strip_suffix(suffix)?)?)));
    parsed.unwrap_or(FileKind::Unknown)
}

fn parse_base_offset(stem: &str) -> Option<i64> {
    if stem.len() != OFFSET_DIGITS || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_are_zero_padded_and_parse_back() {
        let dir = Path::new("/d");
        let log = log_file(dir, 42);
        assert_eq!(log, Path::new("/d/00000000000000000042.log"));
        assert_eq!(classify(&log), FileKind::Log(42));
        assert_eq!(
            classify(&offset_index_file(dir, 7)),
            FileKind::OffsetIndex(7)
        );
        assert_eq!(classify(&time_index_file(dir, 7)), FileKind::TimeIndex(7));
        assert_eq!(classify(&checkpoint_file(dir)), FileKind::Checkpoint);
        assert_eq!(classify(&checkpoint_temp_file(dir)), FileKind::Leftover);
        assert_eq!(
            classify(Path::new("/d/00000000000000000042.log.deleted")),
            FileKind::Leftover
        );
        assert_eq!(classify(&cleaned_log_file(dir, 42)), FileKind::Leftover);
        assert_eq!(classify(Path::new("/d/42.log")), FileKind::Unknown);
        assert_eq!(classify(Path::new("/d/notes.txt")), FileKind::Unknown);
    }
}
