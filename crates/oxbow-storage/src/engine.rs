//! The storage interface: everything the broker may ask of a partition log ([`PartitionLog`]) and
//! of the engine that owns a set of logs ([`LogStore`]). The broker holds only these traits.
//!
//! The local segmented log implements them ([`UnifiedLog`], [`LogManager`]). They are written for
//! a second engine too (object storage with PostgreSQL as coordinator): appends may become
//! batched uploads acknowledged by [`LogStore::flush`]; reads may be remote, so a zero-copy file
//! range is an optional answer of [`PartitionLog::read_slice`], never a requirement; and how an
//! engine keeps readers from getting in the way of writers (the local engine's page-cache,
//! readahead and catch-up policy) stays inside it, behind `read_slice` and [`PartitionLog::warm`].

use std::any::Any;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use crate::{
    AbortedTxn, AppendInfo, CleanerMetrics, FileSlice, LogConfig, LogManager, OffsetAndTimestamp,
    ProducerStateEntry, ReadResult, Result, SegmentInfo, TopicPartition, TxnMarker, UnifiedLog,
};

/// One partition's log.
pub trait PartitionLog: Send + Sync + 'static {
    fn topic_partition(&self) -> &TopicPartition;

    /// Validates and appends record batches from a client's Produce request (v2 framing, CRC,
    /// size, idempotent producer sequence) and assigns their offsets.
    fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo>;

    /// Whether an append of `len` bytes may wait for the disk (the local engine: it would roll the
    /// segment); the caller then appends off the async threads ([`blocking`]).
    fn append_may_block(&self, len: usize) -> bool;

    /// Appends batches the broker built itself: internal topics' records (group and transaction
    /// state, schemas). Control batches are refused here: markers go through
    /// [`write_txn_marker`](Self::write_txn_marker).
    fn append_internal(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo>;

    /// Ends a producer's transaction in this partition with a commit or abort marker; the last
    /// stable offset moves past it and an abort is indexed for `read_committed` readers.
    fn write_txn_marker(&self, marker: &TxnMarker, now_ms: i64) -> Result<AppendInfo>;

    /// Aborted transactions overlapping `[from, upper)` (Fetch with `read_committed`).
    fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn>;

    /// The state of every producer that wrote to the log (DescribeProducers).
    fn producer_states(&self) -> Vec<ProducerStateEntry>;

    /// Whole batches from the one holding `offset`, below `upper_bound`, at most `max_bytes`
    /// (or one batch whatever its size when `min_one`), copied into memory.
    fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<ReadResult>;

    /// As [`read`](Self::read), but the engine may answer with a file range to send without
    /// copying (then `ReadResult::records` is empty). A range marked `cold` must go through
    /// [`warm`](Self::warm) before it is sent.
    fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<(ReadResult, Option<FileSlice>)>;

    /// Brings a cold range to where it can be sent at once (the local engine: into the page
    /// cache, paced so producers' fsyncs do not wait behind it). Runs off the async threads.
    fn warm(&self, slice: FileSlice) -> BoxFuture<'static, std::io::Result<FileSlice>>;

    /// Whether reading at `offset` may wait for the disk (or the network), so the caller should
    /// read on a blocking thread.
    fn read_may_block(&self, offset: i64) -> bool;

    fn log_start_offset(&self) -> i64;
    fn log_end_offset(&self) -> i64;
    /// The offset below which records are visible to readers (the log end on a single node).
    fn high_watermark(&self) -> i64;
    /// The first offset of the oldest open transaction, or the high watermark.
    fn last_stable_offset(&self) -> i64;

    /// The first record at or after `timestamp` (ListOffsets); may read indexes from disk.
    fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<OffsetAndTimestamp>>;
    /// The record with the largest timestamp (ListOffsets -3).
    fn max_timestamp(&self) -> Result<Option<OffsetAndTimestamp>>;
    /// The timestamp of the batch holding `offset`, if it is still in the log.
    fn timestamp_at(&self, offset: i64) -> Result<Option<i64>>;

    /// Removes the tail from the batch holding `offset` on (Kafka's `truncateTo`, for
    /// replication); returns the new log end. Below the log start it is refused.
    fn truncate_to(&self, offset: i64) -> Result<i64>;

    /// Moves the log start offset up to `offset` (DeleteRecords); returns the new start.
    fn delete_records_before(&self, offset: i64) -> Result<i64>;

    fn config(&self) -> LogConfig;
    fn update_config(&self, config: LogConfig);
    fn size_bytes(&self) -> u64;
    fn segments(&self) -> Vec<SegmentInfo>;
    fn cleaner_metrics(&self) -> CleanerMetrics;

    /// For the engine that made this log, to reach its own type.
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// The engine: creates, finds, deletes and recovers logs, and makes appends durable.
pub trait LogStore: Send + Sync + 'static {
    fn get(&self, tp: &TopicPartition) -> Option<Arc<dyn PartitionLog>>;
    fn create(&self, tp: &TopicPartition, config: LogConfig) -> Result<Arc<dyn PartitionLog>>;
    /// Deletes a log and its data; later calls on it fail with `LogDeleted`.
    fn delete(&self, tp: &TopicPartition) -> Result<()>;
    fn logs(&self) -> Vec<Arc<dyn PartitionLog>>;

    /// Completes once every log is durable up to its offset (group commit: concurrent callers
    /// share the work).
    fn flush(&self, targets: Vec<(Arc<dyn PartitionLog>, i64)>) -> oneshot::Receiver<Result<()>>;
    /// Sets who is told how long each log's fsync takes (for `/metrics`); engines without
    /// local fsyncs ignore it.
    fn observe_flushes(&self, _observer: crate::flusher::FlushObserver) {}

    /// Periodic work (segment rolls by age, checkpoints); may block on the disk.
    fn maintenance(&self, now_ms: i64);
    /// Deletes what retention allows; returns how many segments went. May block on the disk.
    fn enforce_retention(&self, now_ms: i64) -> usize;
    /// Stops compaction (if running).
    fn stop_cleaner(&self);
    /// Closes every log durably, marking a clean shutdown.
    fn shutdown(&self) -> Result<()>;

    /// Whether the engine has gone offline after an I/O error (every call then fails).
    fn is_offline(&self) -> bool;
    /// Where the data lives, for DescribeLogDirs and the start-up line.
    fn location(&self) -> &std::path::Path;
}

/// Runs storage work that may wait for the disk without stalling an async worker thread: on a
/// multi-threaded tokio runtime the worker hands its other tasks to another thread for the
/// duration (`block_in_place`); elsewhere (a plain thread, a current-thread runtime) it just runs.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl PartitionLog for UnifiedLog {
    fn topic_partition(&self) -> &TopicPartition {
        UnifiedLog::topic_partition(self)
    }
    fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo> {
        UnifiedLog::append(self, records, now_ms)
    }
    fn append_may_block(&self, len: usize) -> bool {
        self.append_would_roll(len, crate::clock::wall_clock_ms())
    }
    fn append_internal(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo> {
        // Internal batches are built by the broker in the same v2 format and go through the
        // same validation.
        UnifiedLog::append(self, records, now_ms)
    }
    fn write_txn_marker(&self, marker: &TxnMarker, now_ms: i64) -> Result<AppendInfo> {
        UnifiedLog::write_txn_marker(self, marker, now_ms)
    }
    fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        UnifiedLog::aborted_transactions(self, from, upper)
    }
    fn producer_states(&self) -> Vec<ProducerStateEntry> {
        UnifiedLog::producer_states(self)
    }
    fn read(&self, offset: i64, max: usize, upper: i64, min_one: bool) -> Result<ReadResult> {
        UnifiedLog::read(self, offset, max, upper, min_one)
    }
    fn read_slice(
        &self,
        offset: i64,
        max: usize,
        upper: i64,
        min_one: bool,
    ) -> Result<(ReadResult, Option<FileSlice>)> {
        let readahead = !self.catch_up().careful();
        UnifiedLog::read_slice_with(self, offset, max, upper, min_one, readahead)
    }
    fn warm(&self, slice: FileSlice) -> BoxFuture<'static, std::io::Result<FileSlice>> {
        let catch_up = self.catch_up().clone();
        Box::pin(async move { catch_up.warm(slice).await })
    }
    fn read_may_block(&self, offset: i64) -> bool {
        // Older segments are probably not in the page cache; even locating a batch reads them.
        offset < self.active_segment_base()
    }
    fn log_start_offset(&self) -> i64 {
        UnifiedLog::log_start_offset(self)
    }
    fn log_end_offset(&self) -> i64 {
        UnifiedLog::log_end_offset(self)
    }
    fn high_watermark(&self) -> i64 {
        UnifiedLog::high_watermark(self)
    }
    fn last_stable_offset(&self) -> i64 {
        UnifiedLog::last_stable_offset(self)
    }
    fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<OffsetAndTimestamp>> {
        UnifiedLog::offset_for_timestamp(self, timestamp)
    }
    fn max_timestamp(&self) -> Result<Option<OffsetAndTimestamp>> {
        UnifiedLog::max_timestamp(self)
    }
    fn timestamp_at(&self, offset: i64) -> Result<Option<i64>> {
        UnifiedLog::timestamp_at(self, offset)
    }
    fn truncate_to(&self, offset: i64) -> Result<i64> {
        UnifiedLog::truncate_to(self, offset)
    }
    fn delete_records_before(&self, offset: i64) -> Result<i64> {
        UnifiedLog::delete_records_before(self, offset)
    }
    fn config(&self) -> LogConfig {
        UnifiedLog::config(self)
    }
    fn update_config(&self, config: LogConfig) {
        UnifiedLog::update_config(self, config)
    }
    fn size_bytes(&self) -> u64 {
        UnifiedLog::size_bytes(self)
    }
    fn segments(&self) -> Vec<SegmentInfo> {
        UnifiedLog::segments(self)
    }
    fn cleaner_metrics(&self) -> CleanerMetrics {
        UnifiedLog::cleaner_metrics(self)
    }
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl LogStore for LogManager {
    fn get(&self, tp: &TopicPartition) -> Option<Arc<dyn PartitionLog>> {
        LogManager::get(self, tp).map(|l| l as Arc<dyn PartitionLog>)
    }
    fn create(&self, tp: &TopicPartition, config: LogConfig) -> Result<Arc<dyn PartitionLog>> {
        LogManager::create(self, tp, config).map(|l| l as Arc<dyn PartitionLog>)
    }
    fn delete(&self, tp: &TopicPartition) -> Result<()> {
        LogManager::delete(self, tp)
    }
    fn logs(&self) -> Vec<Arc<dyn PartitionLog>> {
        LogManager::logs(self)
            .into_iter()
            .map(|l| l as Arc<dyn PartitionLog>)
            .collect()
    }
    fn flush(&self, targets: Vec<(Arc<dyn PartitionLog>, i64)>) -> oneshot::Receiver<Result<()>> {
        let mut local = Vec::with_capacity(targets.len());
        for (log, offset) in targets {
            match log.as_any().downcast::<UnifiedLog>() {
                Ok(log) => local.push((log, offset)),
                // A log of another engine cannot be flushed here: answer with an error rather
                // than claim durability.
                Err(_) => {
                    let (tx, rx) = oneshot::channel();
                    let _ = tx.send(Err(crate::StorageError::ForeignLog));
                    return rx;
                }
            }
        }
        LogManager::flush(self, local)
    }
    fn observe_flushes(&self, observer: crate::flusher::FlushObserver) {
        LogManager::observe_flushes(self, observer)
    }
    fn maintenance(&self, now_ms: i64) {
        LogManager::maintenance(self, now_ms)
    }
    fn enforce_retention(&self, now_ms: i64) -> usize {
        LogManager::enforce_retention(self, now_ms)
    }
    fn stop_cleaner(&self) {
        LogManager::stop_cleaner(self)
    }
    fn shutdown(&self) -> Result<()> {
        LogManager::shutdown(self)
    }
    fn is_offline(&self) -> bool {
        LogManager::is_offline(self)
    }
    fn location(&self) -> &std::path::Path {
        LogManager::dir(self)
    }
}
