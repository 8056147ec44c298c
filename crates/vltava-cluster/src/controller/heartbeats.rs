//! Broker sessions on the active controller (Kafka's `BrokerHeartbeatManager`): when each
//! broker was last heard from. Kept in memory only, like Kafka's: a new active controller
//! starts every session afresh, which at worst delays one fencing by a session timeout.

use std::collections::{BTreeMap, BTreeSet};

use crate::records::BrokerId;

#[derive(Debug, Clone)]
pub struct BrokerSessions {
    /// `broker.session.timeout.ms`: a broker not heard from for this long is fenced.
    session_timeout_ms: u64,
    last_heard_ms: BTreeMap<BrokerId, u64>,
}

impl BrokerSessions {
    pub fn new(session_timeout_ms: u64) -> BrokerSessions {
        BrokerSessions {
            session_timeout_ms,
            last_heard_ms: BTreeMap::new(),
        }
    }

    /// A registration or heartbeat from `broker` at `now_ms`.
    pub fn heard(&mut self, broker: BrokerId, now_ms: u64) {
        self.last_heard_ms.insert(broker, now_ms);
    }

    pub fn forget(&mut self, broker: BrokerId) {
        self.last_heard_ms.remove(&broker);
    }

    /// Every session starts afresh (a controller that becomes active again).
    pub fn forget_all(&mut self) {
        self.last_heard_ms.clear();
    }

    /// Whether `broker` was heard from within the session timeout.
    pub fn alive(&self, broker: BrokerId, now_ms: u64) -> bool {
        self.last_heard_ms
            .get(&broker)
            .is_some_and(|&at| now_ms.saturating_sub(at) < self.session_timeout_ms)
    }

    /// Brokers among `live` (the unfenced ones) whose session has expired. A broker never
    /// heard from by this controller gets a full session from `first_seen_ms` (when this
    /// controller became active), so a failover does not fence everyone at once.
    pub fn expired(
        &self,
        live: impl Iterator<Item = BrokerId>,
        now_ms: u64,
        first_seen_ms: u64,
    ) -> BTreeSet<BrokerId> {
        live.filter(|b| {
            let at = self.last_heard_ms.get(b).copied().unwrap_or(first_seen_ms);
            now_ms.saturating_sub(at) >= self.session_timeout_ms
        })
        .collect()
    }

    /// Whether `broker` was last heard from before `at_ms`; `None` if this controller never
    /// heard from it.
    pub fn heard_before(&self, broker: BrokerId, at_ms: u64) -> Option<bool> {
        self.last_heard_ms.get(&broker).map(|&heard| heard < at_ms)
    }

    /// When the next session could expire, for the controller's timer.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.last_heard_ms
            .values()
            .min()
            .map(|at| at + self.session_timeout_ms)
    }
}
