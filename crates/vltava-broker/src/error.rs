//! Broker errors and the one place they become Kafka error codes.

use kafka_protocol::error::ResponseError;
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
            BrokerError::MetadataIo { .. } => ResponseError::KafkaStorageError,
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

pub type Result<T> = std::result::Result<T, BrokerError>;
