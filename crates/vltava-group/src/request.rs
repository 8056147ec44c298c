//! The coordinator's inputs: what the broker takes out of the Kafka requests. No wire types.

use bytes::Bytes;

use crate::ids::{GenerationId, GroupId, InstanceId, MemberId, Protocol};

/// A JoinGroup from one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    pub group_id: GroupId,
    /// Empty for a member that has no id yet.
    pub member_id: MemberId,
    pub group_instance_id: Option<InstanceId>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i64,
    /// JoinGroup v0 has none; the broker passes the session timeout then, as Kafka does.
    pub rebalance_timeout_ms: i64,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    /// KIP-394: JoinGroup v4+ clients understand `MemberIdRequired`; older ones are admitted
    /// with a generated id directly.
    pub require_known_member_id: bool,
}

/// A SyncGroup from one member; the leader's carries the assignment of every member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRequest {
    pub group_id: GroupId,
    pub member_id: MemberId,
    pub group_instance_id: Option<InstanceId>,
    pub generation_id: GenerationId,
    /// SyncGroup v5+: checked against the group's when present.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(MemberId, Bytes)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: GroupId,
    pub member_id: MemberId,
    pub group_instance_id: Option<InstanceId>,
    pub generation_id: GenerationId,
}

/// LeaveGroup v3+ (KIP-345) leaves a batch of members; older versions leave one member id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveRequest {
    pub group_id: GroupId,
    pub members: Vec<LeavingMember>,
}

/// A member named by its member id, by its group.instance.id, or by both (then they must agree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeavingMember {
    pub member_id: MemberId,
    pub group_instance_id: Option<InstanceId>,
}
