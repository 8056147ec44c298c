//! The quorum as DescribeQuorum (KIP-595, KIP-853) reports it: the leader and its epoch, the
//! high watermark, and each voter's log end offset with when the leader last heard from it.
//! Offsets are Kafka's: one past the last entry (openraft's indexes start at 0).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::RaftMetrics;
use serde::{Deserialize, Serialize};

use super::NodeId;

/// When this node last had an answer from each peer (wall-clock ms), and which peers it cannot
/// reach now; written by the network.
#[derive(Debug, Clone, Default)]
pub struct PeerContacts(Arc<Mutex<Contacts>>);

#[derive(Debug, Default)]
struct Contacts {
    last_heard: BTreeMap<NodeId, i64>,
    unreachable: BTreeSet<NodeId>,
    /// Since when (wall-clock ms) each peer's address refuses connections: nothing listens
    /// there, its process is gone (a paused or cut-off one times out instead).
    refused_since: BTreeMap<NodeId, i64>,
}

impl PeerContacts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Contacts> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn heard(&self, peer: NodeId) {
        let now = wall_clock_ms();
        let mut contacts = self.lock();
        contacts.last_heard.insert(peer, now);
        contacts.refused_since.remove(&peer);
        if contacts.unreachable.remove(&peer) {
            tracing::info!(peer, "controller quorum peer answering again");
        }
    }

    /// A call to `peer` failed. Logged once per outage: the calls are retried every heartbeat,
    /// and a log line each time would bury everything else while a node is down.
    pub fn lost(&self, peer: NodeId, address: &str, error: &std::io::Error) {
        let mut contacts = self.lock();
        if error.kind() == std::io::ErrorKind::ConnectionRefused {
            contacts
                .refused_since
                .entry(peer)
                .or_insert_with(wall_clock_ms);
        } else {
            contacts.refused_since.remove(&peer);
        }
        if contacts.unreachable.insert(peer) {
            tracing::warn!(peer, address, %error, "controller quorum peer not answering; retrying");
        }
    }

    /// Peers whose address has refused every connection since, and how many ms ago that
    /// began.
    pub fn refusing(&self) -> BTreeMap<NodeId, u64> {
        let now = wall_clock_ms();
        self.lock()
            .refused_since
            .iter()
            .map(|(&peer, &since)| (peer, u64::try_from(now - since).unwrap_or(0)))
            .collect()
    }

    fn last(&self, peer: NodeId) -> Option<i64> {
        self.lock().last_heard.get(&peer).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaProgress {
    pub node_id: NodeId,
    /// -1 when the leader does not know it (yet).
    pub log_end_offset: i64,
    /// When the leader last heard from the replica; -1 if never since it led.
    pub last_fetch_timestamp: i64,
    /// When the replica was last known to hold everything committed; -1 if not known.
    pub last_caught_up_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumStatus {
    pub leader_id: NodeId,
    /// Kafka's leader epoch of the metadata partition: the Raft term.
    pub leader_epoch: u64,
    pub high_watermark: i64,
    pub voters: Vec<ReplicaProgress>,
    /// Brokers that follow the metadata log without voting (Raft learners).
    pub observers: Vec<ReplicaProgress>,
    /// Each voter's controller listener as configured ("local" for a quorum of one).
    pub voter_addresses: BTreeMap<NodeId, String>,
}

/// The status seen by the leader, from its Raft metrics and the peers' last answers.
pub fn quorum_status(
    metrics: &RaftMetrics<NodeId, openraft::BasicNode>,
    contacts: &PeerContacts,
) -> QuorumStatus {
    let next = |index: Option<u64>| index.map_or(0, |i| i as i64 + 1);
    let high_watermark = next(metrics.last_applied.map(|l| l.index));
    let log_end = next(metrics.last_log_index);
    let now = wall_clock_ms();
    let membership = metrics.membership_config.membership();
    let progress = |node_id: NodeId| {
        if node_id == metrics.id {
            return ReplicaProgress {
                node_id,
                log_end_offset: log_end,
                last_fetch_timestamp: now,
                last_caught_up_timestamp: now,
            };
        }
        let matched = metrics
            .replication
            .as_ref()
            .and_then(|r| r.get(&node_id).cloned())
            .flatten();
        let log_end_offset = matched.map_or(-1, |m| m.index as i64 + 1);
        let last = contacts.last(node_id).unwrap_or(-1);
        ReplicaProgress {
            node_id,
            log_end_offset,
            last_fetch_timestamp: last,
            last_caught_up_timestamp: if log_end_offset >= high_watermark {
                last
            } else {
                -1
            },
        }
    };
    let voter_ids: Vec<NodeId> = membership.voter_ids().collect();
    let voters = voter_ids.iter().copied().map(progress).collect();
    let observers = membership.learner_ids().map(progress).collect();
    let voter_addresses = membership
        .nodes()
        .filter(|(id, _)| voter_ids.contains(id))
        .map(|(id, node)| (*id, node.addr.clone()))
        .collect();
    QuorumStatus {
        leader_id: metrics.id,
        leader_epoch: metrics.current_term,
        high_watermark,
        voters,
        observers,
        voter_addresses,
    }
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
