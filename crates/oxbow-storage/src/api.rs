//! The narrow interface the broker uses. Everything the broker needs from storage is here;
//! a second engine (shared object storage) will implement the same shapes.

use std::path::PathBuf;

use bytes::Bytes;

/// A topic partition, the unit of ordering and storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self { topic: topic.into(), partition }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Which timestamp a batch carries once stored (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}

/// Per-log settings, resolved by the broker from topic configs and broker defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment when an append would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment when its first batch is older than this.
    pub segment_ms: i64,
    /// `retention.ms`: delete whole segments whose newest timestamp is older; -1 = forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest whole segments while the log is larger; -1 = no limit.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest record batch accepted.
    pub max_message_bytes: u32,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `index.interval.bytes`: bytes between sparse index entries.
    pub index_interval_bytes: u32,
    /// `file.delete.delay.ms`: how long a deleted segment lingers as `.deleted` before removal.
    pub file_delete_delay_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            index_interval_bytes: 4096,
            file_delete_delay_ms: 60_000,
        }
    }
}

/// What a successful append did.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendInfo {
    /// Offset of the first record appended (or, for a duplicate, of the original).
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The LogAppendTime stamped on the batches, or -1 under CreateTime.
    pub log_append_time: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// True when the batch was a retry of one already stored (idempotent producer):
    /// nothing was written and the offsets are those of the original.
    pub duplicate: bool,
}

/// Records read from a log.
#[derive(Debug, Clone, Default)]
pub struct ReadResult {
    /// Whole record batches, as stored. May start before the requested offset (clients skip).
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub last_stable_offset: i64,
}

/// A point found by timestamp or maximum timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    pub offset: i64,
    pub timestamp: i64,
}

/// Settings of the whole engine.
#[derive(Debug, Clone)]
pub struct LogManagerOptions {
    /// The log directory (the broker's data dir).
    pub dir: PathBuf,
    /// How often recovery points are checkpointed (ms).
    pub checkpoint_interval_ms: u64,
}

/// One segment's description, for DescribeLogDirs and the CLI.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInfo {
    pub base_offset: i64,
    pub size_bytes: u64,
    pub max_timestamp: i64,
}
