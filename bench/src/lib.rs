//! The parts of the load generator that need no Kafka client library: the raw-wire workloads
//! (`wire-produce`, `wire-fetch`), their arguments and reports, and the progress line. The
//! `vltava-bench` binary adds the librdkafka workloads (feature `rdkafka`); the `vltava` binary
//! runs these as `vltava bench`, one implementation for both.

pub mod cli;
pub mod progress;
pub mod report;
pub mod wire;
