//! The errors of group coordination. The broker maps each variant to its Kafka error code in
//! one function; the names follow Kafka's `Errors` so that mapping is one-to-one.

use crate::ids::MemberId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The member id is not (or no longer) a member of the group: it left, expired, was removed
    /// by a rebalance it did not rejoin, or never existed. The client resets its id and rejoins.
    #[error("the member id is not a member of the group")]
    UnknownMemberId,
    /// The request names a generation other than the group's current one.
    #[error("the generation is not the group's current generation")]
    IllegalGeneration,
    /// The group is rebalancing; the member must send JoinGroup.
    #[error("the group is rebalancing: rejoin")]
    RebalanceInProgress,
    /// KIP-394: a new dynamic member must rejoin with this id, so the coordinator never holds
    /// state for a member that cannot identify itself on a retry.
    #[error("a member id is required: rejoin with member id {0}")]
    MemberIdRequired(MemberId),
    /// KIP-345: the group.instance.id now belongs to a newer member id.
    #[error("the group.instance.id is owned by a newer member id")]
    FencedInstanceId,
    /// The protocol type differs from the group's, the member supports no protocol that every
    /// other member supports, or a SyncGroup names another protocol than the selected one.
    #[error("the member's protocol type or protocols are inconsistent with the group")]
    InconsistentGroupProtocol,
    /// The coordinator is still loading group state; the client retries.
    #[error("the group coordinator is loading")]
    CoordinatorLoadInProgress,
    #[error("the group does not exist")]
    GroupIdNotFound,
    #[error("the group still has members")]
    NonEmptyGroup,
    /// The session timeout is outside `[session_timeout_min_ms, session_timeout_max_ms]`.
    #[error("the session timeout is outside the configured bounds")]
    InvalidSessionTimeout,
    #[error("the group has reached group_max_size members")]
    GroupMaxSizeReached,
    /// KIP-848: the member epoch is not the member's current (or, after a lost answer, its
    /// previous) epoch: the member must give up its partitions and rejoin with epoch 0.
    #[error("the member epoch is fenced")]
    FencedMemberEpoch,
    /// KIP-848: an OffsetCommit or OffsetFetch names an epoch other than the member's.
    #[error("the member epoch is stale")]
    StaleMemberEpoch,
    /// KIP-848: the group.instance.id belongs to a member that has not left.
    #[error("the instance id is still used by another member")]
    UnreleasedInstanceId,
    #[error("the server assignor is not supported")]
    UnsupportedAssignor,
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The group belongs to another broker's coordinator (the leader of its
    /// `__consumer_offsets` partition): the client finds the coordinator again.
    #[error("this broker is not the group's coordinator")]
    NotCoordinator,
}
