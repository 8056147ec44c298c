//! Broker errors and the one place they become Kafka error codes.

use kafka_protocol::error::ResponseError;
use vltava_cluster::controller::ControllerError;
use vltava_cluster::quorum::active::ControllerFailure;
use vltava_group::GroupError;
use vltava_storage::StorageError;

/// What can go wrong while serving a request, with its cause kept.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    #[error("unknown topic id")]
    UnknownTopicId,
    /// The principal may not do this to the topic (an ACL, issue 18).
    #[error("Topic authorization failed.")]
    TopicAuthorizationFailed,
    /// The partition is led by another broker (or by none just now): the client refreshes
    /// its metadata and goes to the leader.
    #[error("this broker does not lead the partition")]
    NotLeaderOrFollower,
    /// acks=all while the ISR is smaller than min.insync.replicas.
    #[error("the in-sync replicas are fewer than min.insync.replicas")]
    NotEnoughReplicas,
    /// The group's `__consumer_offsets` partition is led by another broker.
    #[error("this broker is not the group's coordinator")]
    NotCoordinator,
    /// The group's `__consumer_offsets` partition has no live leader just now.
    #[error("The coordinator is not available.")]
    CoordinatorNotAvailable,
    /// Kafka's `InvalidTopicException` message: its prefix and the reason `Topic.validate` gives.
    #[error("Topic name is invalid: {0}")]
    InvalidTopic(String),
    #[error("topic already exists")]
    TopicAlreadyExists,
    #[error("invalid number of partitions: {0}")]
    InvalidPartitions(i32),
    #[error("invalid replication factor {0}: this cluster has one broker")]
    InvalidReplicationFactor(i16),
    #[error("replica assignments must number the partitions 0..n in order")]
    InvalidReplicaAssignment,
    #[error("{0}")]
    InvalidConfig(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("producer epoch {got} is older than the current {current}")]
    ProducerFenced { got: i16, current: i16 },
    #[error("out of order sequence: expected {expected}, got {got}")]
    OutOfOrderSequence { expected: i32, got: i32 },
    #[error("group coordination: {0}")]
    Group(#[from] GroupError),
    #[error("__consumer_offsets record not durable within the commit timeout")]
    OffsetCommitTimedOut,
    /// CreatePartitions asking for the count the topic has (Kafka's message).
    #[error("Topic already has {current} partition(s).")]
    PartitionCountUnchanged { current: i32 },
    /// CreatePartitions asking for fewer partitions: a topic never shrinks (Kafka's message).
    #[error(
        "The topic {topic} currently has {current} partition(s); {requested} would not be an increase."
    )]
    PartitionCountDecrease {
        topic: String,
        current: i32,
        requested: i32,
    },
    #[error("{0}")]
    ManualAssignment(#[from] AssignmentError),
    /// A topic named twice in one CreatePartitions request: Kafka grows it neither time.
    #[error("Duplicate topic name.")]
    DuplicateTopic,
    /// `__consumer_offsets` maps groups to partitions by the partition count, so growing it
    /// would move every group's committed offsets.
    #[error("cannot add partitions to the internal topic {0}")]
    InternalTopicPartitions(String),
    /// Produce to an internal topic: only the broker writes its own state (Kafka's message).
    #[error("Cannot append to internal topic {0}")]
    InternalTopicAppend(String),
    #[error("Cannot delete records of internal topic {0}")]
    InternalTopicRecordDeletion(String),
    #[error(
        "Records of partition {topic}-{partition} can not be deleted due to the configured policy"
    )]
    RecordDeletionPolicy { topic: String, partition: i32 },
    #[error(
        "cannot move the log start offset to {requested}: it must be between 0 and the high watermark {high_watermark}"
    )]
    LogStartOffsetOutOfRange { requested: i64, high_watermark: i64 },
    #[error("No such topic as {0}")]
    NoSuchTopic(String),
    #[error("No such partition as {topic}-{partition}")]
    NoSuchPartition { topic: String, partition: i32 },
    #[error("Unknown election type {0}")]
    UnknownElectionType(i8),
    /// The partition already has the leader an election would choose.
    #[error("Leader election not needed for topic partition.")]
    ElectionNotNeeded,
    /// A partition without a leader whose preferred replica's broker is down.
    #[error("The preferred leader was not available.")]
    PreferredLeaderNotAvailable,
    /// An unclean election found no live replica to elect.
    #[error("Eligible topic partition leaders are not available.")]
    EligibleLeadersNotAvailable,
    /// The controller quorum refused a change or could not be reached.
    #[error("{0}")]
    Controller(#[from] ControllerFailure),
    /// A change the controller committed at this offset did not reach this broker in time.
    #[error("metadata offset {0} not applied on this broker in time")]
    MetadataTimedOut(i64),
    /// A transaction coordinator's refusal (its Kafka error code says which).
    #[error("{0}")]
    Txn(#[from] crate::txn_coordinator::state::TxnError),
    /// The coordinator is replaying its partition of `__transaction_state`.
    #[error("The coordinator is loading and hence can't process requests.")]
    CoordinatorLoadInProgress,
    /// A transaction marker was not durable in time.
    #[error("transaction marker not durable in time")]
    MarkerTimedOut,
    /// A partition's leader did not take a transaction marker.
    #[error("transaction marker not written: {0}")]
    MarkerNotWritten(String),
    /// Another broker's transaction coordinator refused to add a partition (its Kafka error
    /// code), or could not be asked (UNKNOWN_SERVER_ERROR, with the cause).
    #[error("the transaction coordinator at {address} answered error code {code}: {cause}")]
    RemoteCoordinator {
        address: String,
        code: i16,
        cause: String,
    },
    #[error("metadata i/o on {path}: {source}")]
    MetadataIo {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BrokerError {
    /// The Kafka error code a Kafka broker would answer with.
    pub fn code(&self) -> i16 {
        let error = match self {
            BrokerError::Storage(e) => return storage_error_code(e),
            BrokerError::Group(e) => return group_error_code(e),
            BrokerError::OffsetCommitTimedOut | BrokerError::MarkerTimedOut => {
                ResponseError::RequestTimedOut
            }
            BrokerError::Txn(e) => return txn_error_code(*e),
            BrokerError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
            BrokerError::MarkerNotWritten(_) => ResponseError::UnknownServerError,
            BrokerError::RemoteCoordinator { code, .. } => return *code,
            BrokerError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            BrokerError::UnknownTopicId => ResponseError::UnknownTopicId,
            BrokerError::TopicAuthorizationFailed => ResponseError::TopicAuthorizationFailed,
            BrokerError::NotLeaderOrFollower => ResponseError::NotLeaderOrFollower,
            BrokerError::NotEnoughReplicas => ResponseError::NotEnoughReplicas,
            BrokerError::NotCoordinator => ResponseError::NotCoordinator,
            BrokerError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            BrokerError::InvalidTopic(_) => ResponseError::InvalidTopicException,
            BrokerError::TopicAlreadyExists => ResponseError::TopicAlreadyExists,
            BrokerError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            BrokerError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            BrokerError::InvalidReplicaAssignment => ResponseError::InvalidReplicaAssignment,
            BrokerError::InvalidConfig(_) => ResponseError::InvalidConfig,
            BrokerError::InvalidRequest(_) => ResponseError::InvalidRequest,
            BrokerError::ProducerFenced { .. } => ResponseError::InvalidProducerEpoch,
            BrokerError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            BrokerError::PartitionCountUnchanged { .. }
            | BrokerError::PartitionCountDecrease { .. } => ResponseError::InvalidPartitions,
            BrokerError::ManualAssignment(_) => ResponseError::InvalidReplicaAssignment,
            BrokerError::InternalTopicPartitions(_) | BrokerError::RecordDeletionPolicy { .. } => {
                ResponseError::PolicyViolation
            }
            BrokerError::InternalTopicRecordDeletion(_) => ResponseError::InvalidTopicException,
            BrokerError::InternalTopicAppend(_) => ResponseError::InvalidTopicException,
            BrokerError::LogStartOffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            BrokerError::NoSuchTopic(_) | BrokerError::NoSuchPartition { .. } => {
                ResponseError::UnknownTopicOrPartition
            }
            BrokerError::UnknownElectionType(_) | BrokerError::DuplicateTopic => {
                ResponseError::InvalidRequest
            }
            BrokerError::ElectionNotNeeded => ResponseError::ElectionNotNeeded,
            BrokerError::PreferredLeaderNotAvailable => ResponseError::PreferredLeaderNotAvailable,
            BrokerError::EligibleLeadersNotAvailable => ResponseError::EligibleLeadersNotAvailable,
            BrokerError::MetadataIo { .. } => ResponseError::KafkaStorageError,
            BrokerError::Controller(failure) => return controller_error_code(failure),
            BrokerError::MetadataTimedOut(_) => ResponseError::RequestTimedOut,
        };
        error.code()
    }

    /// The message clients show beside the code (Kafka's `error_message` fields).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

fn txn_error_code(error: crate::txn_coordinator::state::TxnError) -> i16 {
    use crate::txn_coordinator::state::TxnError;
    match error {
        TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout,
        TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
        TxnError::ProducerFenced => ResponseError::ProducerFenced,
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
        TxnError::InvalidTxnState => ResponseError::InvalidTxnState,
    }
    .code()
}

/// Why a CreatePartitions replica assignment is refused, in Kafka's words. One broker means
/// every new partition is assigned exactly `[node_id]`.
#[derive(Debug, thiserror::Error)]
pub enum AssignmentError {
    #[error(
        "Attempted to add {additional} additional partition(s), but only {given} assignment(s) were specified."
    )]
    CountMismatch { additional: i32, given: usize },
    #[error("The manual partition assignment includes an empty replica list.")]
    Empty,
    #[error(
        "The manual partition assignment includes broker {0}, but no such broker is registered."
    )]
    UnknownBroker(i32),
    #[error("The manual partition assignment includes the broker {0} more than once.")]
    DuplicateBroker(i32),
    #[error(
        "The manual partition assignment includes a partition with {got} replica(s), but this is not consistent with previous partitions, which have {expected} replica(s)."
    )]
    UnequalReplicas { got: usize, expected: usize },
}

/// A controller refusal as Kafka's controller answers it; a quorum that cannot be reached
/// times the request out, as a Kafka broker whose forwarded request gets no answer does.
pub fn controller_error_code(failure: &ControllerFailure) -> i16 {
    let code = match failure {
        ControllerFailure::Refused(refusal) => match refusal {
            ControllerError::StaleBrokerEpoch { .. } => ResponseError::StaleBrokerEpoch,
            ControllerError::DuplicateBrokerRegistration(_) => {
                ResponseError::DuplicateBrokerRegistration
            }
            ControllerError::BrokerNotRegistered(_) => ResponseError::BrokerIdNotRegistered,
            ControllerError::InvalidReplicationFactor { .. }
            | ControllerError::ReplicationFactorChange { .. } => {
                ResponseError::InvalidReplicationFactor
            }
            ControllerError::InvalidPartitions => ResponseError::InvalidPartitions,
            ControllerError::TopicExists(_) => ResponseError::TopicAlreadyExists,
            ControllerError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
            ControllerError::UnregisteredBroker(_) => ResponseError::InvalidReplicaAssignment,
            ControllerError::UnknownTopicId(_) => ResponseError::UnknownTopicId,
            ControllerError::NotLeader(_) => ResponseError::NotLeaderOrFollower,
            ControllerError::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
            ControllerError::InvalidUpdateVersion { .. } => ResponseError::InvalidUpdateVersion,
            ControllerError::IneligibleReplica(_) => ResponseError::IneligibleReplica,
            ControllerError::NoReassignmentInProgress => ResponseError::NoReassignmentInProgress,
            ControllerError::EmptyReplicaList | ControllerError::DuplicateReplica(_) => {
                ResponseError::InvalidReplicaAssignment
            }
        },
        ControllerFailure::NotController { .. } | ControllerFailure::Unavailable(_) => {
            ResponseError::RequestTimedOut
        }
    };
    code.code()
}

/// Storage errors as Kafka reports them for produce, fetch and list-offsets.
pub fn storage_error_code(error: &StorageError) -> i16 {
    let code = match error {
        StorageError::CorruptBatch { .. } => ResponseError::CorruptMessage,
        StorageError::InvalidBatch { .. } => ResponseError::InvalidRecord,
        StorageError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::InvalidTimestamp { .. } => ResponseError::InvalidTimestamp,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::Io { .. }
        | StorageError::LogOffline { .. }
        | StorageError::Malformed { .. } => ResponseError::KafkaStorageError,
    };
    code.code()
}

/// Group coordination errors as Kafka reports them; the names match one to one.
pub fn group_error_code(error: &GroupError) -> i16 {
    let code = match error {
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::MemberIdRequired(_) => ResponseError::MemberIdRequired,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        GroupError::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
        GroupError::StaleMemberEpoch => ResponseError::StaleMemberEpoch,
        GroupError::UnreleasedInstanceId => ResponseError::UnreleasedInstanceId,
        GroupError::UnsupportedAssignor => ResponseError::UnsupportedAssignor,
        GroupError::InvalidRequest(_) => ResponseError::InvalidRequest,
        GroupError::NotCoordinator => ResponseError::NotCoordinator,
    };
    code.code()
}

/// What a group request answers when writing `__consumer_offsets` failed, as Kafka's group
/// coordinator normalises it: a timed-out or offline log makes the client find the
/// coordinator again and retry; group errors keep their own code.
pub fn coordinator_write_error_code(error: &BrokerError) -> i16 {
    match error {
        BrokerError::Group(e) => group_error_code(e),
        BrokerError::OffsetCommitTimedOut
        | BrokerError::UnknownTopicOrPartition
        | BrokerError::Storage(_) => ResponseError::CoordinatorNotAvailable.code(),
        other => other.code(),
    }
}

pub type Result<T> = std::result::Result<T, BrokerError>;
