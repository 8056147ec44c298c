//! Raw Kafka protocol load, bypassing librdkafka: the client costs a few instructions per
//! request, so the figures are the broker's. `wire-produce` resends one pre-encoded record batch;
//! `wire-fetch` reads a topic and counts records from the batch headers without decoding them.

pub mod batch;
pub mod conn;
pub mod cpu;
pub mod fetch;
pub mod produce;
pub mod report;
pub mod topic;

/// Request versions both vltava and Kafka 4.x serve (Kafka 4 dropped Produce < 3 and
/// Fetch < 4); all flexible versions that still address topics by name.
pub const PRODUCE_VERSION: i16 = 9;
pub const FETCH_VERSION: i16 = 12;
pub const LIST_OFFSETS_VERSION: i16 = 7;
pub const METADATA_VERSION: i16 = 12;
pub const CREATE_TOPICS_VERSION: i16 = 7;
