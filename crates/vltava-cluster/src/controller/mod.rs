//! What the active controller decides, as pure functions of the metadata image (and of time,
//! passed in): broker registration, heartbeats and fencing (Kafka's `ClusterControlManager`
//! and `BrokerHeartbeatManager`), topic creation with replica placement and leader election
//! (`ReplicationControlManager`). Each decision returns the records to append; nothing changes
//! until they are committed and replayed, so a decision is checked and then applied, never
//! half-done. The active controller makes decisions one at a time, each on the image that
//! includes every earlier one.

pub mod brokers;
pub mod elect_leaders;
pub mod election;
pub mod heartbeats;
pub mod isr;
pub mod placement;
pub mod producer_ids;
pub mod reassignment;
pub mod topics;

/// Why a request to the controller is refused, each with the Kafka error it answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ControllerError {
    /// STALE_BROKER_EPOCH
    #[error("broker {broker_id}: epoch {got} is not its current epoch")]
    StaleBrokerEpoch { broker_id: i32, got: i64 },
    /// DUPLICATE_BROKER_REGISTRATION: another live incarnation holds this id.
    #[error("another broker is registered with id {0} and its session has not expired")]
    DuplicateBrokerRegistration(i32),
    /// BROKER_ID_NOT_REGISTERED
    #[error("broker {0} is not registered")]
    BrokerNotRegistered(i32),
    /// INVALID_REPLICATION_FACTOR
    #[error(
        "Unable to replicate the partition {requested} time(s): The target replication factor of {requested} cannot be reached because only {available} broker(s) are registered or some brokers have all their log directories cordoned."
    )]
    InvalidReplicationFactor { requested: i16, available: usize },
    /// INVALID_PARTITIONS
    #[error("Number of partitions was set to an invalid non-positive value.")]
    InvalidPartitions,
    /// TOPIC_ALREADY_EXISTS
    #[error("Topic '{0}' already exists.")]
    TopicExists(String),
    /// INVALID_REPLICA_ASSIGNMENT
    #[error(
        "The manual partition assignment includes broker {0}, but no such broker is registered."
    )]
    UnregisteredBroker(i32),
    /// UNKNOWN_TOPIC_OR_PARTITION
    #[error("This server does not host this topic-partition: topic '{0}' does not exist.")]
    UnknownTopic(String),
    /// UNKNOWN_TOPIC_ID (AlterPartition for a partition the controller does not have).
    #[error("no partition of topic id {0} as named")]
    UnknownTopicId(uuid::Uuid),
    /// NOT_LEADER_OR_FOLLOWER (AlterPartition from a broker that does not lead).
    #[error("broker {0} does not lead the partition")]
    NotLeader(i32),
    /// FENCED_LEADER_EPOCH
    #[error("leader epoch {got} is not the partition's current epoch {current}")]
    FencedLeaderEpoch { got: i32, current: i32 },
    /// INVALID_UPDATE_VERSION: the ISR change was made on an older partition state.
    #[error("partition epoch {got} is not the partition's current epoch {current}")]
    InvalidUpdateVersion { got: i32, current: i32 },
    /// INELIGIBLE_REPLICA: a replica that may not join the ISR (fenced, shutting down, or
    /// not a replica).
    #[error("broker {0} may not be in the ISR")]
    IneligibleReplica(i32),
    /// NO_REASSIGNMENT_IN_PROGRESS: a cancellation for a partition not being reassigned.
    #[error("No partition reassignment is in progress.")]
    NoReassignmentInProgress,
    /// INVALID_REPLICA_ASSIGNMENT
    #[error("The manual partition assignment includes an empty replica list.")]
    EmptyReplicaList,
    /// INVALID_REPLICA_ASSIGNMENT
    #[error("The manual partition assignment includes the broker {0} more than once.")]
    DuplicateReplica(i32),
    /// INVALID_REPLICATION_FACTOR: a reassignment that may not change it does.
    #[error("The replication factor is changed from {from} to {to}")]
    ReplicationFactorChange { from: usize, to: usize },
}
