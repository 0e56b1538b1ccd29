//! Storage errors. The broker maps each to a Kafka error code per partition, at the edge.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O error on a log directory other than running out of space. The directory is taken
    /// offline; every later call on a log in it returns `LogDirOffline`.
    #[error("I/O error on {path}: {op}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A log made by another storage engine was handed to this one (a programming error).
    #[error("log belongs to another storage engine")]
    ForeignLog,
    /// The disk is full. Nothing already written is damaged; later appends may succeed.
    #[error("no space left on device writing {path}")]
    NoSpace { path: PathBuf },
    /// The log directory was taken offline after an earlier I/O error.
    #[error("log directory {0} is offline")]
    LogDirOffline(PathBuf),
    /// A batch failed its CRC or its framing is inconsistent (CORRUPT_MESSAGE).
    #[error("corrupt record batch: {0}")]
    CorruptRecord(String),
    /// A batch is well-formed but not acceptable (INVALID_RECORD), e.g. magic != 2.
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    /// A batch is larger than `max.message.bytes` (MESSAGE_TOO_LARGE).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: u32 },
    /// The requested offset is outside [log start, log end] (OFFSET_OUT_OF_RANGE).
    #[error("offset {requested} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },
    /// An idempotent producer's sequence does not follow its last one (OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {found}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        found: i32,
    },
    /// The producer epoch is older than the one the log has seen (INVALID_PRODUCER_EPOCH).
    #[error("producer {producer_id} epoch {epoch} is older than current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    /// A write that the producer's transaction state does not allow (INVALID_TXN_STATE).
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// The log was deleted while the call ran (UNKNOWN_TOPIC_OR_PARTITION).
    #[error("log {0} was deleted")]
    LogDeleted(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
