//! Coordinator configuration, named after Kafka's broker settings with the unit last.

/// Kafka's group coordinator settings (`group.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members, so a fleet starting together lands in one generation instead of one
    /// rebalance per member. Extended by the same delay while members keep arriving, up to the
    /// rebalance timeout.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`: shorter sessions would let a GC pause evict a member.
    pub session_timeout_min_ms: i64,
    /// `group.max.session.timeout.ms`: longer sessions would let a dead member stall a group.
    pub session_timeout_max_ms: i64,
    /// `group.max.size`: members plus members that were given an id and have not rejoined yet.
    pub group_max_size: usize,
    /// `group.consumer.session.timeout.ms`: a KIP-848 member silent this long is fenced.
    pub consumer_session_timeout_ms: i64,
    /// `group.consumer.heartbeat.interval.ms`: how often KIP-848 members heartbeat, and so how
    /// soon they learn of a new assignment.
    pub consumer_heartbeat_interval_ms: i64,
}

impl Default for GroupConfig {
    /// Kafka 4's defaults.
    fn default() -> Self {
        Self {
            initial_rebalance_delay_ms: 3_000,
            session_timeout_min_ms: 6_000,
            session_timeout_max_ms: 1_800_000,
            group_max_size: i32::MAX as usize,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
        }
    }
}
