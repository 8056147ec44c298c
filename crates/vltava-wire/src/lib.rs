//! The Kafka wire as vltava's own clients speak it: the `vltava` CLI, the bench load generator,
//! the tests that must control every byte, and (in a cluster) broker-to-broker calls.
//!
//! `frame` builds request frames and checks response frames (length limit before allocating,
//! correlation id, nothing trailing the body); `blocking` is one synchronous connection that
//! sends a request and waits for its answer; `nonblocking` reads frames from a tokio stream
//! for clients that pipeline. Message types come from `kafka-protocol`; this crate only frames.

pub mod blocking;
mod error;
pub mod frame;
pub mod nonblocking;

pub use error::WireError;
