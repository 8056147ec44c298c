//! Replication (Kafka's replica manager and fetcher threads): followers copy their leaders'
//! logs with Kafka's follower Fetch, and the leader moves the high watermark over what the
//! in-sync replicas hold durably.
//!
//! - `replica_set`: one partition's replicas as this broker sees them: its role, the ISR, and,
//!   on the leader, each follower's durable offset; the high watermark and ISR changes follow
//!   from it (pure, time passed in).
//! - `fetcher`: on a follower, one task per leader fetching every partition it follows there;
//!   a follower asks for the next offset only once what it fetched is fsynced, so the offset
//!   the leader sees is a durability acknowledgement.
//! - `isr`: on a leader, the periodic check that asks the controller to shrink the ISR
//!   (a follower behind for `replica.lag.time.max.ms`) or expand it (a follower caught up).
//! - `read_replica`: KIP-392, which replica a consumer in a given rack should read from.

pub mod fetcher;
pub mod isr;
pub mod read_replica;
pub mod replica_set;
