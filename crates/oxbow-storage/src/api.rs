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
        Self {
            topic: topic.into(),
            partition,
        }
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
    /// `cleanup.policy`: delete (retention), compact (the cleaner), or both.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long a tombstone stays once it lies in the cleaned part of the log.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: dirty bytes / (clean + dirty bytes) above which the log is cleaned.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: segments with records newer than this are not compacted yet.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty segment older than this is compacted whatever the ratio.
    pub max_compaction_lag_ms: i64,
    /// `compression.type` as a batch codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd);
    /// `None` for `producer`. Applied by the broker before the append.
    pub compression_codec: Option<u8>,
    /// `message.timestamp.before.max.ms`: CreateTime timestamps further in the past are refused.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: CreateTime timestamps further in the future are refused.
    pub timestamp_after_max_ms: i64,
}

/// `cleanup.policy`: which of retention (delete) and compaction apply to a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: Self = Self {
        delete: true,
        compact: false,
    };
    pub const COMPACT: Self = Self {
        delete: false,
        compact: true,
    };
    pub const COMPACT_DELETE: Self = Self {
        delete: true,
        compact: true,
    };

    /// Parses Kafka's list syntax (`delete`, `compact`, `compact,delete`); None if invalid.
    pub fn parse(value: &str) -> Option<Self> {
        let mut policy = Self {
            delete: false,
            compact: false,
        };
        for part in value.split(',').map(str::trim) {
            match part {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                _ => return None,
            }
        }
        (policy.delete || policy.compact).then_some(policy)
    }
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        Self::DELETE
    }
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
            cleanup_policy: CleanupPolicy::DELETE,
            delete_retention_ms: 24 * 3600 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            compression_codec: None,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: i64::MAX,
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

/// Settings of the log cleaner (compaction) thread, from the broker's `[log]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerOptions {
    /// `log.cleaner.io.max.bytes.per.second`: bytes read plus written per second by the cleaner;
    /// 0 = unlimited.
    pub io_max_bytes_per_second: u64,
    /// `log.cleaner.backoff.ms`: sleep between checks when no log needs cleaning.
    pub backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: memory for the key -> latest offset map of one cleaning.
    pub dedupe_buffer_bytes: usize,
}

/// 50 MiB/s: about 14% of this class of disk's ~360 MB/s sequential write bandwidth.
pub const DEFAULT_CLEANER_IO_MAX_BYTES_PER_SECOND: u64 = 50 * 1024 * 1024;

impl Default for CleanerOptions {
    fn default() -> Self {
        Self {
            io_max_bytes_per_second: DEFAULT_CLEANER_IO_MAX_BYTES_PER_SECOND,
            backoff_ms: 15_000,
            dedupe_buffer_bytes: 128 * 1024 * 1024,
        }
    }
}

/// What the cleaner reports about one log (DescribeConfigs `oxbow.cleaner.*`, the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CleanerMetrics {
    /// Dirty bytes / (clean + dirty bytes) of the cleanable part of the log, 0..=1.
    pub dirty_ratio: f64,
    /// Wall-clock ms when the last cleaning finished; -1 if never cleaned since start.
    pub last_clean_ms: i64,
    /// How long the last cleaning took (ms); -1 if never.
    pub last_duration_ms: i64,
    /// Bytes the cleaner read from / wrote to this log since the broker started.
    pub bytes_read: u64,
    pub bytes_written: u64,
}

/// A byte range of a segment file, for zero-copy sends (`sendfile`). It starts at a batch
/// boundary and may end inside a batch, as Kafka's fetch responses may: clients drop a partial
/// trailing batch and fetch it again.
#[derive(Debug, Clone)]
pub struct FileSlice {
    pub file: std::sync::Arc<std::fs::File>,
    pub position: u64,
    pub len: usize,
    /// The range lies in an older segment, not the active one: a reader catching up, whose data
    /// is probably not in the page cache. The broker reads such ranges off its async threads and
    /// paces them when the disk is busy with producers' fsyncs.
    pub cold: bool,
}
