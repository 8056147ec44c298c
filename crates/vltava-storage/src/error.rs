//! The one error type of the storage crate.
//!
//! Variants are distinct where the broker must answer with a different Kafka error code;
//! the mapping to codes lives in the broker, in one function.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the partition log.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Bytes that do not form a well-made batch: bad CRC, torn or inconsistent lengths.
    /// Kafka: CORRUPT_MESSAGE.
    #[error("corrupt record batch at byte {position}: {reason}")]
    CorruptBatch {
        position: usize,
        reason: &'static str,
    },

    /// A whole, intact batch we refuse: wrong magic, bad attributes or counts.
    /// Kafka: INVALID_RECORD / UNSUPPORTED_FOR_MESSAGE_FORMAT.
    #[error("invalid record batch at byte {position}: {reason}")]
    InvalidBatch {
        position: usize,
        reason: &'static str,
    },

    /// Records whose timestamps the topic's `message.timestamp.*` configs refuse; nothing of
    /// the append is written. Kafka: INVALID_TIMESTAMP, with one error per refused record.
    #[error("One or more records have been rejected due to invalid timestamp")]
    InvalidTimestamp { record_errors: Vec<RecordError> },

    /// A batch larger than `max.message.bytes`. Kafka: MESSAGE_TOO_LARGE.
    #[error("record batch of {size} bytes exceeds the limit of {max_bytes} bytes")]
    MessageTooLarge { size: usize, max_bytes: usize },

    /// An offset outside `[log_start, log_end]`. Kafka: OFFSET_OUT_OF_RANGE.
    #[error("offset {requested} is outside the log [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },

    /// An I/O error, with the file (or directory) it happened on.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// An earlier write or fsync failed, so what is on disk is unknown: the log refuses
    /// all work until it is reopened (and recovered). Kafka: KAFKA_STORAGE_ERROR.
    #[error("log {path} is offline after an earlier I/O error")]
    LogOffline { path: PathBuf },

    /// A file inside the log directory that does not follow the format (for example a
    /// checkpoint with a bad CRC). Recovery decides whether it can be rebuilt.
    #[error("malformed file {path}: {reason}")]
    Malformed { path: PathBuf, reason: &'static str },
}

/// Why one record of a batch was refused (Kafka's `ProduceResponse.RecordError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The record's position in its batch, from 0.
    pub batch_index: i32,
    pub message: String,
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, StorageError>;

/// Attach the path to an `io::Error`; used as `.map_err(io_at(&path))`.
pub(crate) fn io_at(path: &std::path::Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}
