//! Broker errors and the one place they become Kafka error codes.

use kafka_protocol::error::ResponseError;
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
    #[error("invalid topic name: {0}")]
    InvalidTopic(String),
    #[error("topic already exists")]
    TopicAlreadyExists,
    #[error("invalid number of partitions: {0}")]
    InvalidPartitions(i32),
    #[error("invalid replication factor {0}: this cluster has one broker")]
    InvalidReplicationFactor(i16),
    #[error("replica assignment must name this broker once per partition, partitions 0..n")]
    InvalidReplicaAssignment,
    #[error("invalid config: {0}")]
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
    #[error("__consumer_offsets partition {partition} near offset {offset}: {reason}")]
    OffsetsLogCorrupt {
        partition: i32,
        offset: i64,
        reason: String,
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
            BrokerError::OffsetCommitTimedOut => ResponseError::RequestTimedOut,
            BrokerError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            BrokerError::UnknownTopicId => ResponseError::UnknownTopicId,
            BrokerError::InvalidTopic(_) => ResponseError::InvalidTopicException,
            BrokerError::TopicAlreadyExists => ResponseError::TopicAlreadyExists,
            BrokerError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            BrokerError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            BrokerError::InvalidReplicaAssignment => ResponseError::InvalidReplicaAssignment,
            BrokerError::InvalidConfig(_) => ResponseError::InvalidConfig,
            BrokerError::InvalidRequest(_) => ResponseError::InvalidRequest,
            BrokerError::ProducerFenced { .. } => ResponseError::InvalidProducerEpoch,
            BrokerError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            BrokerError::MetadataIo { .. } | BrokerError::OffsetsLogCorrupt { .. } => {
                ResponseError::KafkaStorageError
            }
        };
        error.code()
    }

    /// The message clients show beside the code (Kafka's `error_message` fields).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Storage errors as Kafka reports them for produce, fetch and list-offsets.
pub fn storage_error_code(error: &StorageError) -> i16 {
    let code = match error {
        StorageError::CorruptBatch { .. } => ResponseError::CorruptMessage,
        StorageError::InvalidBatch { .. } => ResponseError::InvalidRecord,
        StorageError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
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
