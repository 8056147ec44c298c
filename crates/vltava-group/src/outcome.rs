//! The coordinator's outputs: immediate answers, and completions of parked requests.

use bytes::Bytes;

use crate::error::GroupError;
use crate::ids::{GenerationId, GroupId, InstanceId, MemberId};
use crate::state::GroupState;

/// What a call returns: its own answer, and the parked requests it completed, to be answered
/// in this order.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply<T> {
    pub outcome: T,
    pub completions: Vec<Completion>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Park the request under `(group id, member_id, join)`: a [`Completion::Join`] answers it.
    /// `member_id` is the one the coordinator gave a member that joined without one.
    Pending {
        member_id: MemberId,
    },
    Completed(JoinResult),
    Err(GroupError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinResult {
    pub member_id: MemberId,
    pub generation_id: GenerationId,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: MemberId,
    /// KIP-814: a static leader that rejoined without a rebalance gets the member list but must
    /// not compute a new assignment.
    pub skip_assignment: bool,
    /// Every member with its metadata for the selected protocol, for the leader only.
    pub members: Vec<JoinedMember>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: MemberId,
    pub group_instance_id: Option<InstanceId>,
    pub metadata: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Park the request under `(group id, member id, sync)` until the leader's assignment
    /// arrives: a [`Completion::Sync`] answers it.
    Pending,
    Completed(SyncResult),
    Err(GroupError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncResult {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// The answer to a parked request, named by the group and member it was parked under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    Join {
        group_id: GroupId,
        member_id: MemberId,
        result: Result<JoinResult, GroupError>,
    },
    Sync {
        group_id: GroupId,
        member_id: MemberId,
        result: Result<SyncResult, GroupError>,
    },
}

impl Completion {
    pub fn member_id(&self) -> &MemberId {
        match self {
            Completion::Join { member_id, .. } | Completion::Sync { member_id, .. } => member_id,
        }
    }
}

/// One member's answer within a LeaveGroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberLeaveResult {
    pub member_id: MemberId,
    pub group_instance_id: Option<InstanceId>,
    pub result: Result<(), GroupError>,
}

/// DescribeGroups. As in Kafka, the protocol and the members' metadata and assignments are
/// shown only for a Stable group; in other states they are in flux.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: GroupId,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: MemberId,
    pub group_instance_id: Option<InstanceId>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// ListGroups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: GroupId,
    pub state: GroupState,
    pub protocol_type: String,
}
