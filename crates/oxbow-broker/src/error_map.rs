//! The one place where internal errors become Kafka error codes (per partition, at the edge).

use kafka_protocol::ResponseError;
use oxbow_storage::StorageError;

use crate::broker::TopicError;

/// Error code and client-facing message for a storage error on the produce path.
pub fn map_produce_error(e: &StorageError) -> ResponseError {
    match e {
        StorageError::CorruptRecord(_) => ResponseError::CorruptMessage,
        StorageError::InvalidRecord(_) => ResponseError::InvalidRecord,
        StorageError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        StorageError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        StorageError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
        StorageError::LogDeleted(_) => ResponseError::UnknownTopicOrPartition,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::Io { .. } | StorageError::NoSpace { .. } | StorageError::LogDirOffline(_) => {
            ResponseError::KafkaStorageError
        }
        StorageError::ForeignLog => ResponseError::UnknownServerError,
    }
}

/// Error code for a storage error on the read path (fetch, list offsets, delete records).
pub fn map_read_error(e: &StorageError) -> ResponseError {
    match e {
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::LogDeleted(_) => ResponseError::UnknownTopicOrPartition,
        StorageError::Io { .. } | StorageError::NoSpace { .. } | StorageError::LogDirOffline(_) => {
            ResponseError::KafkaStorageError
        }
        StorageError::CorruptRecord(_) => ResponseError::CorruptMessage,
        _ => ResponseError::UnknownServerError,
    }
}

/// Error code for a topic administration failure.
pub fn map_topic_error(e: &TopicError) -> ResponseError {
    match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        TopicError::InvalidRequest(_) => ResponseError::InvalidRequest,
        TopicError::Storage(_) | TopicError::Io(_) => ResponseError::KafkaStorageError,
    }
}

/// The code as sent on the wire.
pub fn code(e: Option<ResponseError>) -> i16 {
    e.map(|e| e.code()).unwrap_or(0)
}
