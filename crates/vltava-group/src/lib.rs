//! Group coordination for vltava as pure state machines with time passed in.
//!
//! This crate holds the classic consumer group protocol (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup; KIP-394 member ids, KIP-345 static membership) with Kafka's `GroupCoordinator`
//! semantics. It does no I/O and reads no clock: every call takes `now_ms`, and the broker calls
//! [`Coordinator::tick`] when [`Coordinator::next_deadline_ms`] is reached.
//!
//! Contract with the broker (protocol at the edge):
//! - Kafka requests are translated into the request types in [`request`]; results and
//!   [`GroupError`]s are translated back, errors to Kafka codes in one place.
//! - A JoinGroup or SyncGroup may have to wait for other members. Such a call returns
//!   `Pending`; the broker parks the request under `(group id, member id, kind)` and answers it
//!   when a [`Completion`] with that key comes back from any later call or tick. Completions
//!   must be delivered in the order they are returned.
//! - At most one join and one sync is parked per member: when a member sends a second join while
//!   the first is parked, the later request takes the key over (Kafka never answers the
//!   earlier one either; the client has given up on it).
//! - The coordinator is not thread-safe by itself; the broker owns it behind one lock or task.

pub mod codec;
mod config;
mod consumer_group;
mod coordinator;
mod error;
mod group;
mod group_record;
mod ids;
mod member;
mod offsets;
mod offsets_log;
mod outcome;
mod protocol_selection;
mod request;
mod state;

#[cfg(test)]
mod test_support;

pub use config::GroupConfig;
pub use consumer_group::{
    Assignment, Assignor, ConsumerGroupDescription, ConsumerHeartbeat, ConsumerHeartbeatResult,
    ConsumerMemberDescription, LEAVE_EPOCH, STATIC_LEAVE_EPOCH, TopicInfo,
};
pub use coordinator::Coordinator;
pub use error::GroupError;
pub use group::CommitterRef;
pub use group_record::{
    GroupChange, GroupSnapshot, MemberSnapshot, group_metadata_key, group_metadata_value,
};
pub use ids::{GenerationId, GroupId, InstanceId, MemberId, Protocol};
pub use offsets::{CommittedOffset, OffsetStore, TopicPartition};
pub use offsets_log::{
    MalformedRecord, OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS_DEFAULT, OffsetsRecord,
    decode as decode_offsets_record, offset_key, offset_value, offsets_partition_for,
};
pub use outcome::{
    Completion, GroupDescription, GroupListing, JoinOutcome, JoinResult, JoinedMember,
    MemberDescription, MemberLeaveResult, Reply, SyncOutcome, SyncResult,
};
pub use request::{HeartbeatRequest, JoinRequest, LeaveRequest, LeavingMember, SyncRequest};
pub use state::GroupState;
