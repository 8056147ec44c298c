//! One member of a KIP-848 consumer group, as the coordinator knows it.

use crate::ids::{InstanceId, MemberId};

use super::assignor::Assignment;

/// Where a member is in reconciling towards its target assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// The member owns its whole target assignment at the group's assignment epoch.
    Stable,
    /// The member must first give up partitions that its target no longer has; it keeps its
    /// epoch until it confirms, so no other member gets them while it may still process them.
    UnrevokedPartitions,
    /// The member is at the new epoch but some of its target partitions are still being
    /// revoked by others; it gets them on a later heartbeat.
    UnreleasedPartitions,
}

#[derive(Clone, Debug)]
pub(crate) struct ConsumerMember {
    pub(crate) id: MemberId,
    pub(crate) instance_id: Option<InstanceId>,
    pub(crate) rack_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) epoch: i32,
    pub(crate) previous_epoch: i32,
    pub(crate) state: MemberState,
    /// Sorted, deduplicated topic names.
    pub(crate) subscribed: Vec<String>,
    pub(crate) server_assignor: Option<String>,
    pub(crate) rebalance_timeout_ms: i64,
    /// What the member may consume now.
    pub(crate) assigned: Assignment,
    /// What it must give up before anyone else gets it.
    pub(crate) pending_revocation: Assignment,
    pub(crate) session_deadline_ms: i64,
    /// While `UnrevokedPartitions`: a member that does not revoke by then is fenced.
    pub(crate) revocation_deadline_ms: Option<i64>,
    /// The assigned partitions changed since the member was last told.
    pub(crate) assignment_unsent: bool,
    /// A static member that left with epoch -2: it keeps its partitions until its session
    /// expires or a new member with its instance id takes its place.
    pub(crate) left_temporarily: bool,
}

impl ConsumerMember {
    pub(crate) fn new(id: MemberId) -> Self {
        Self {
            id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            subscribed: Vec::new(),
            server_assignor: None,
            rebalance_timeout_ms: 0,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline_ms: 0,
            revocation_deadline_ms: None,
            assignment_unsent: true,
            left_temporarily: false,
        }
    }

    /// Every partition the member holds, assigned or still being revoked.
    pub(crate) fn held(&self) -> impl Iterator<Item = (uuid::Uuid, i32)> + '_ {
        self.assigned
            .iter()
            .chain(self.pending_revocation.iter())
            .flat_map(|(topic, partitions)| partitions.iter().map(move |p| (*topic, *p)))
    }
}
