//! Oxbow's embedded storage engine: per-partition segmented logs on local disk, laid out the way
//! Kafka lays them out.
//!
//! This crate owns everything below the broker's request handling for one log directory:
//! - the on-disk layout (`{dir}/{topic}-{partition}/{base:020}.log|.index|.timeindex|.snapshot`,
//!   the `recovery-point-offset-checkpoint` and `log-start-offset-checkpoint` files, and the
//!   `.oxbow-clean-shutdown` marker);
//! - validation of produced record batches (v2 framing, CRC-32C, size limits), offset assignment
//!   and LogAppendTime stamping ([`batch`]);
//! - idempotent producer state: epoch fencing, sequence checks, duplicate detection, snapshots;
//! - segment rolling, sparse offset/time indexes, reads by offset and by timestamp;
//! - durability: a group-commit flusher thread shares fsyncs across concurrent `acks=all` producers;
//! - crash recovery (truncating torn tails, rebuilding indexes and producer state);
//! - retention by time and size (when `cleanup.policy` includes delete), DeleteRecords;
//! - log compaction (`cleanup.policy` compact): a throttled background cleaner keeps the latest
//!   record per key ([`LogManager::start_cleaner`], see `cleaner_manager.rs` and `log_cleaner.rs`);
//! - the failure channel: an I/O error takes the directory offline; ENOSPC fails only the append.
//!
//! The broker codes against [`LogManager`] and [`UnifiedLog`] and the types of [`api`].
//! Failpoints (feature `failpoints`): `oxbow-storage::segment-before-write`,
//! `oxbow-storage::segment-after-write`, `oxbow-storage::flush`, `oxbow-storage::roll`;
//! the cleaner's `oxbow-storage::cleaner-write`, `cleaner-swap-file`, `cleaner-source-deleted`,
//! `cleaner-rename` (see `cleaner_swap.rs`);
//! `return(enospc)` injects ENOSPC, any other `return` EIO.

pub mod api;
pub mod batch;
mod catch_up;
mod checkpoint;
mod cleaner_io;
mod cleaner_manager;
mod cleaner_state;
mod cleaner_swap;
mod clock;
mod durability;
pub mod engine;
pub mod error;
mod failure;
mod file_cache;
mod flusher;
mod log_cleaner;
mod log_loader;
mod log_manager;
mod log_retention;
mod log_segment;
mod log_timestamps;
mod log_transactions;
mod log_truncation;
mod offset_index;
mod offset_map;
pub mod producer_state;
mod record_filter;
mod time_index;
pub mod transaction_index;
mod unified_log;

pub use api::{
    AppendInfo, CleanerMetrics, CleanerOptions, CleanupPolicy, FileSlice, LogConfig,
    LogManagerOptions, OffsetAndTimestamp, ReadResult, SegmentInfo, TimestampType, TopicPartition,
    DEFAULT_CLEANER_IO_MAX_BYTES_PER_SECOND,
};
pub use batch::TxnMarker;
pub use cleaner_state::CLEANER_OFFSET_CHECKPOINT;
pub use engine::{blocking, LogStore, PartitionLog};
pub use error::{Result, StorageError};
pub use flusher::FlushObserver;
pub use log_manager::{parse_topic_partition, LogManager, CLEAN_SHUTDOWN_FILE};
pub use producer_state::ProducerStateEntry;
pub use transaction_index::AbortedTxn;
pub use unified_log::UnifiedLog;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn given_public_handles_when_shared_across_threads_should_be_send_sync() {
        assert_send_sync::<LogManager>();
        assert_send_sync::<UnifiedLog>();
    }

    #[test]
    fn given_dir_names_when_parsed_should_split_at_last_dash() {
        assert_eq!(
            parse_topic_partition("my-topic-3"),
            Some(TopicPartition::new("my-topic", 3))
        );
        assert_eq!(parse_topic_partition("meta"), None);
        assert_eq!(parse_topic_partition("t-x"), None);
        assert_eq!(parse_topic_partition("t-0.123-delete"), None);
        assert_eq!(parse_topic_partition("-1"), None);
    }
}
