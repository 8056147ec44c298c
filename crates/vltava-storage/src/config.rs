//! Per-log configuration, with Kafka's names and defaults.

/// Kafka's topic-level log settings that the storage layer acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * DAY_MS,
            retention_ms: 7 * DAY_MS,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
        }
    }
}
