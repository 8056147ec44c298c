//! The vltava broker: serves the Kafka wire protocol on top of `vltava-storage`.
//!
//! Layout, from the socket inwards: `server` (listener, connection, framing, shutdown) →
//! `dispatch` (one table of API key → handler and version range) → `api/<one file per API>` →
//! `topics` and `partition` (the replica manager: logs, producer state, high watermark) with
//! `flusher` (group commit) and `fetch_session` (KIP-227) beside them; `replication` copies the
//! partitions this broker follows from their leaders and keeps the ISR of those it leads;
//! `group_coordinator` runs consumer groups and keeps committed offsets in `__consumer_offsets`;
//! `txn_coordinator` runs transactions, kept in `__transaction_state`, and writes their markers
//! (`control_batch`); both keep their state in an `internal_topic`.

pub mod api;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod configs;
pub mod control_batch;
pub mod dispatch;
pub mod error;
pub mod fetch_session;
pub mod flusher;
pub mod group_coordinator;
pub mod internal_topic;
pub mod leader_epoch;
pub mod log_dir;
pub mod metadata_file;
pub mod metrics;
pub mod partition;
pub mod producer_ids;
pub mod producer_state;
pub mod quotas;
pub mod replication;
pub mod security;
pub mod server;
pub mod topic_name;
pub mod topics;
pub mod txn_coordinator;

pub use broker::Broker;
pub use config::{BrokerConfig, FlushPolicy};
pub use server::{Server, ServerHandle};
