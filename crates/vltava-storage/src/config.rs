//! Per-log configuration, with Kafka's names and defaults.

/// `cleanup.policy`: `delete` (retention by time and size), `compact` (the log cleaner keeps
/// the latest record per key), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    /// Kafka's default, `delete`.
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };
}

/// `message.timestamp.type`: whose clock the record timestamps are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// The producer's timestamps, checked against the before/after limits.
    CreateTime,
    /// The broker's clock when it appends the batch.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's config value; `None` for anything else (the registry refuses it first).
    pub fn parse(value: &str) -> Option<TimestampType> {
        match value {
            "CreateTime" => Some(TimestampType::CreateTime),
            "LogAppendTime" => Some(TimestampType::LogAppendTime),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// Kafka's topic-level log settings that the storage layer acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would grow past this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment this long after its first append.
    pub segment_ms: i64,
    /// `retention.ms`: delete closed segments whose largest timestamp is older; -1 = never.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest closed segments while the log is larger; -1 = never.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `index.interval.bytes`: log bytes between offset index entries.
    pub index_interval_bytes: u32,
    /// `cleanup.policy`: time and size retention apply only with `delete`; the log cleaner
    /// runs only with `compact`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: a tombstone survives at least this long after the cleaner first
    /// cleaned its batch, so consumers reading the log see it before it goes.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: clean when dirty bytes / cleanable bytes reach this.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: segments holding a record newer than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: clean regardless of the dirty ratio once the oldest dirty
    /// segment is older than this.
    pub max_compaction_lag_ms: i64,
    /// `message.timestamp.type`: CreateTime keeps the producer's timestamps, LogAppendTime
    /// stamps every batch with the broker's clock.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: under CreateTime, a record older than now minus
    /// this is refused (INVALID_TIMESTAMP).
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: under CreateTime, a record newer than now plus this
    /// is refused (INVALID_TIMESTAMP).
    pub message_timestamp_after_max_ms: i64,
}

const HOUR_MS: i64 = 60 * 60 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * DAY_MS,
            retention_ms: 7 * DAY_MS,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            cleanup_policy: CleanupPolicy::DELETE,
            delete_retention_ms: DAY_MS,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: HOUR_MS,
        }
    }
}
