//! One member of a classic group, as the coordinator knows it.

use bytes::Bytes;

use crate::ids::{InstanceId, MemberId, Protocol};
use crate::request::JoinRequest;

#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub(crate) id: MemberId,
    pub(crate) instance_id: Option<InstanceId>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i64,
    pub(crate) rebalance_timeout_ms: i64,
    /// In the member's order of preference.
    pub(crate) protocols: Vec<Protocol>,
    /// The assignment of the current generation, empty until the leader's SyncGroup.
    pub(crate) assignment: Bytes,
    /// A JoinGroup of this member is parked, waiting for the rebalance to complete.
    pub(crate) awaiting_join: bool,
    /// A SyncGroup of this member is parked, waiting for the leader's assignment.
    pub(crate) awaiting_sync: bool,
    /// The member has sent SyncGroup in the current generation. Members that have not when
    /// the rebalance timeout passes are removed, so a silent member cannot stall the group.
    pub(crate) synced: bool,
    pub(crate) session_deadline_ms: i64,
}

impl Member {
    pub(crate) fn from_join(id: MemberId, request: &JoinRequest, now_ms: i64) -> Self {
        let mut member = Self {
            id,
            instance_id: request.group_instance_id.clone(),
            client_id: String::new(),
            client_host: String::new(),
            session_timeout_ms: 0,
            rebalance_timeout_ms: 0,
            protocols: Vec::new(),
            assignment: Bytes::new(),
            awaiting_join: false,
            awaiting_sync: false,
            synced: false,
            session_deadline_ms: now_ms,
        };
        member.update_from_join(request, now_ms);
        member
    }

    /// Takes what a (re)join may change; the member's id and instance id stay.
    pub(crate) fn update_from_join(&mut self, request: &JoinRequest, now_ms: i64) {
        self.client_id.clone_from(&request.client_id);
        self.client_host.clone_from(&request.client_host);
        self.session_timeout_ms = request.session_timeout_ms;
        self.rebalance_timeout_ms = request.rebalance_timeout_ms;
        self.protocols.clone_from(&request.protocols);
        self.touch(now_ms);
    }

    /// The member showed it is alive: its session starts over.
    pub(crate) fn touch(&mut self, now_ms: i64) {
        self.session_deadline_ms = now_ms.saturating_add(self.session_timeout_ms);
    }

    /// A parked request keeps a member alive: it is waiting on us, not silent. Kafka's
    /// `shouldKeepAlive`; the rebalance and sync timeouts bound the wait instead.
    pub(crate) fn session_expired(&self, now_ms: i64) -> bool {
        !self.awaiting_join && !self.awaiting_sync && now_ms >= self.session_deadline_ms
    }

    /// Same protocols, same metadata, same order: a rejoin that changes nothing.
    pub(crate) fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    pub(crate) fn metadata(&self, protocol_name: Option<&str>) -> Bytes {
        protocol_name
            .and_then(|name| self.protocols.iter().find(|p| p.name == name))
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }
}
