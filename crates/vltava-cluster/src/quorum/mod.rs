//! The controller quorum's Raft, on openraft: we write the log storage, the state machine and
//! the network; openraft writes the algorithm. Each Raft log entry carries the metadata records
//! one controller decision produced; the state machine replays them into the metadata image.

// openraft's storage and RPC error types are large, and its traits fix them: results that
// carry them are the norm in this module.
#![allow(clippy::result_large_err)]

pub mod active;
pub mod client;
pub mod controller;
pub mod files;
pub mod lifecycle;
pub mod log_store;
pub mod network;
pub mod rpc;
pub mod server;
pub mod state_machine;
pub mod status;

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::records::MetadataRecord;

/// What the active controller appends: the records of one decision, applied together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch {
    pub records: Vec<MetadataRecord>,
}

/// What applying a batch answers: the metadata offset (Raft log index) it was applied at, and
/// the records the image refused (a controller bug if ever non-zero).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub offset: i64,
    pub refused: usize,
}

openraft::declare_raft_types!(
    /// The controller quorum's types: node ids are Kafka node ids (u64 as openraft wants).
    pub MetadataRaft:
        D = MetadataBatch,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<MetadataRaft>,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type NodeId = u64;
pub type StorageError = openraft::StorageError<NodeId>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<MetadataRaft>;
