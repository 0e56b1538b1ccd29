//! One partition's log (Kafka's UnifiedLog + LocalLog): an ordered map of segments, the last of
//! which is active, plus producer state. Appends hold the log's lock; reads snapshot the segment
//! and positions under it and read the file outside it.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::api::{
    AppendInfo, FileSlice, LogConfig, ReadResult, SegmentInfo, TimestampType, TopicPartition,
};
use crate::batch;
use crate::checkpoint::{fsync_dir, LogStartOffsetCheckpoint};
use crate::cleaner_state::CleanerLogState;
pub(crate) use crate::clock::wall_clock_ms;
use crate::error::{Result, StorageError};
use crate::failure::LogDirFailureChannel;
use crate::file_cache::FileCache;
use crate::log_segment::{self, LogSegment};
use crate::producer_state::{ProducerStateManager, StagedProducers};

/// One batch of an append as it will be written.
enum BatchBytes<'a> {
    /// A rewritten copy (LogAppendTime changes CRC'd bytes).
    Copied(Vec<u8>),
    /// The patched header prefix, then the rest straight from the request.
    Prefixed([u8; batch::PREFIX_LEN], &'a [u8]),
}

/// Shared services of a log directory that each log uses.
#[derive(Debug, Clone)]
pub(crate) struct LogDirContext {
    pub failure: Arc<LogDirFailureChannel>,
    pub log_start_checkpoint: Arc<LogStartOffsetCheckpoint>,
    pub file_cache: Arc<FileCache>,
    /// Counts segment rolls in the directory: a roll makes a whole segment durable, and the
    /// LogManager checkpoints recovery points soon after so a crash rescans only active segments.
    pub rolls: Arc<std::sync::atomic::AtomicU64>,
    /// Paces reads of ranges that have left the page cache while producers wait for fsyncs.
    pub catch_up: Arc<crate::catch_up::CatchUpReader>,
}

/// State guarded by the log's lock.
#[derive(Debug)]
pub(crate) struct LogInner {
    /// By base offset; never empty: the last one is the active segment.
    pub segments: BTreeMap<i64, LogSegment>,
    pub next_offset: i64,
    pub log_start: i64,
    /// Everything below is known to be fsynced.
    pub recovery_point: i64,
    pub producers: ProducerStateManager,
}

impl LogInner {
    pub fn active(&self) -> &LogSegment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }
    pub fn active_mut(&mut self) -> &mut LogSegment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }
}

/// A region of one segment file to read outside the lock.
pub(crate) struct SegmentSlice {
    pub file: Arc<File>,
    pub path: PathBuf,
    pub start: u64,
    pub end: u64,
}

/// How far behind the end of the active segment a read must start before its pages are probed
/// for residency (nearer, they were written recently and are in the page cache).
const ACTIVE_COLD_DISTANCE: u64 = 32 << 20;

pub struct UnifiedLog {
    tp: TopicPartition,
    dir: PathBuf,
    config: RwLock<LogConfig>,
    pub(crate) inner: Mutex<LogInner>,
    pub(crate) ctx: LogDirContext,
    /// The cleaner's state for this log (first dirty offset, metrics).
    pub(crate) cleaner: Mutex<CleanerLogState>,
    log_end: AtomicI64,
    log_start: AtomicI64,
    /// First offset of the oldest open transaction (i64::MAX: none), under the log's lock.
    first_unstable: AtomicI64,
    /// Whether any segment holds aborted transactions (read_committed fetches skip the index
    /// lookup otherwise).
    pub(crate) has_aborted: AtomicBool,
    deleted: AtomicBool,
    closed: AtomicBool,
}

impl std::fmt::Debug for UnifiedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnifiedLog")
            .field("tp", &self.tp)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl UnifiedLog {
    pub(crate) fn from_parts(
        tp: TopicPartition,
        dir: PathBuf,
        config: LogConfig,
        inner: LogInner,
        ctx: LogDirContext,
    ) -> Self {
        let log_end = AtomicI64::new(inner.next_offset);
        let log_start = AtomicI64::new(inner.log_start);
        let first_unstable =
            AtomicI64::new(inner.producers.first_unstable_offset().unwrap_or(i64::MAX));
        let has_aborted =
            AtomicBool::new(inner.segments.values().any(|s| !s.txn_index().is_empty()));
        Self {
            tp,
            dir,
            config: RwLock::new(config),
            inner: Mutex::new(inner),
            ctx,
            cleaner: Mutex::new(CleanerLogState::default()),
            log_end,
            log_start,
            first_unstable,
            has_aborted,
            deleted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// The directory's catch-up reader (the read policy behind `PartitionLog::read_slice`).
    pub(crate) fn catch_up(&self) -> &Arc<crate::catch_up::CatchUpReader> {
        &self.ctx.catch_up
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }
    /// Base offset of the active segment: reads below it go to older segments, which are
    /// probably not in the page cache.
    pub fn active_segment_base(&self) -> i64 {
        self.inner.lock().active().base_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end.load(Ordering::Acquire)
    }
    /// Single node: everything appended is committed.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset()
    }
    /// The first offset of the oldest open transaction, or the high watermark if none is open:
    /// `read_committed` readers see nothing at or past it.
    pub fn last_stable_offset(&self) -> i64 {
        self.first_unstable
            .load(Ordering::Acquire)
            .min(self.high_watermark())
    }

    /// Recomputes the first unstable offset from the producer state (under the log's lock).
    pub(crate) fn refresh_first_unstable(&self, inner: &LogInner) {
        let first = inner.producers.first_unstable_offset().unwrap_or(i64::MAX);
        self.first_unstable.store(first, Ordering::Release);
    }

    /// Recomputes whether any segment indexes an aborted transaction (after a truncation; an
    /// abort marker sets it directly).
    pub(crate) fn refresh_has_aborted(&self, inner: &LogInner) {
        let aborted = inner.segments.values().any(|s| !s.txn_index().is_empty());
        self.has_aborted.store(aborted, Ordering::Release);
    }
    pub fn config(&self) -> LogConfig {
        self.config.read().clone()
    }
    pub fn update_config(&self, config: LogConfig) {
        *self.config.write() = config;
    }
    /// The offset below which the log is known to be fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.inner.lock().recovery_point
    }

    pub fn size_bytes(&self) -> u64 {
        self.inner.lock().segments.values().map(|s| s.size()).sum()
    }

    pub fn segments(&self) -> Vec<SegmentInfo> {
        let inner = self.inner.lock();
        inner
            .segments
            .values()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset,
                size_bytes: s.size(),
                max_timestamp: s.max_timestamp(),
            })
            .collect()
    }

    /// Publishes a new log end (after an append or a truncation), under the log's lock.
    pub(crate) fn set_log_end(&self, offset: i64) {
        self.log_end.store(offset, Ordering::Release);
    }

    pub(crate) fn check_usable(&self) -> Result<()> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(StorageError::LogDeleted(self.tp.to_string()));
        }
        self.ctx.failure.check()?;
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::LogDirOffline(self.dir.clone()));
        }
        Ok(())
    }

    pub(crate) fn set_log_start(&self, inner: &mut LogInner, offset: i64) {
        inner.log_start = offset;
        self.log_start.store(offset, Ordering::Release);
    }

    /// Validates and appends one or more v2 batches (as received in a Produce request).
    /// Control batches (transaction markers) are refused: they are written only through
    /// [`Self::write_txn_marker`].
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo> {
        self.check_usable()?;
        let config = self.config();
        let batches = batch::validate_records(records, config.max_message_bytes)?;
        if batches.iter().any(|b| b.header.is_control()) {
            return Err(StorageError::InvalidRecord(
                "control batches (transaction markers) may not be produced".into(),
            ));
        }
        let transactional = batches.iter().any(|b| b.header.is_transactional());
        let mut inner = self.inner.lock();
        self.check_usable()?;
        let log_append_time = config.timestamp_type == TimestampType::LogAppendTime;
        let mut staged = StagedProducers::new();
        let mut headers = Vec::with_capacity(batches.len());
        let mut rewritten: Vec<BatchBytes<'_>> = Vec::with_capacity(batches.len());
        let first_offset = inner.next_offset;
        let mut next = first_offset;
        for vb in &batches {
            let mut h = vb.header;
            if h.has_producer_id() {
                if let Some(dup) = inner.producers.check(&staged, &h)? {
                    tracing::debug!(tp = %self.tp, producer_id = h.producer_id, seq = h.base_sequence, "duplicate batch");
                    return Ok(AppendInfo {
                        base_offset: dup.first_offset,
                        last_offset: dup.last_offset,
                        log_append_time: -1,
                        log_start_offset: inner.log_start,
                        duplicate: true,
                    });
                }
            }
            let original = &records[vb.position..vb.position + h.size()];
            if log_append_time {
                // The CRC covers maxTimestamp: this batch must be copied and re-checksummed.
                let mut bytes = original.to_vec();
                batch::assign_offset(&mut bytes, next);
                batch::set_log_append_time(&mut bytes, now_ms);
                h.max_timestamp = now_ms;
                h.attributes |= batch::TIMESTAMP_TYPE_MASK;
                rewritten.push(BatchBytes::Copied(bytes));
            } else {
                // Base offset and leader epoch sit before the CRC'd part: patch a copy of the
                // header prefix and write the rest from the request buffer.
                let mut head = [0u8; batch::PREFIX_LEN];
                head.copy_from_slice(&original[..batch::PREFIX_LEN]);
                batch::assign_offset(&mut head, next);
                rewritten.push(BatchBytes::Prefixed(head, &original[batch::PREFIX_LEN..]));
            }
            h.base_offset = next;
            h.partition_leader_epoch = 0;
            if h.has_producer_id() {
                inner.producers.stage(&mut staged, &h);
            }
            next = h.last_offset() + 1;
            headers.push((vb.position as u64, h));
        }
        self.maybe_roll(&mut inner, records.len() as u64, next - 1, now_ms, &config)?;
        let parts: Vec<&[u8]> = rewritten
            .iter()
            .flat_map(|b| match b {
                BatchBytes::Copied(v) => [&v[..], &[][..]],
                BatchBytes::Prefixed(head, rest) => [&head[..], *rest],
            })
            .collect();
        let seg = inner.active_mut();
        if let Err(e) = seg.write_parts(&parts) {
            let err = self.ctx.failure.io_error(seg.log_path(), "append", e);
            if matches!(err, StorageError::NoSpace { .. }) {
                if let Err(te) = seg.truncate_file() {
                    return Err(self.ctx.failure.io_error(
                        seg.log_path(),
                        "truncate after ENOSPC",
                        te,
                    ));
                }
            }
            tracing::warn!(tp = %self.tp, path = %seg.log_path().display(), error = %err, "append failed");
            return Err(err);
        }
        if seg.is_empty() {
            seg.created_ms = now_ms;
        }
        let start = seg.size();
        for (pos, h) in &headers {
            seg.on_batch_appended(start + pos, h, config.index_interval_bytes);
        }
        inner.producers.commit(staged);
        inner.next_offset = next;
        if transactional {
            self.refresh_first_unstable(&inner);
        }
        self.log_end.store(next, Ordering::Release);
        Ok(AppendInfo {
            base_offset: first_offset,
            last_offset: next - 1,
            log_append_time: if log_append_time { now_ms } else { -1 },
            log_start_offset: inner.log_start,
            duplicate: false,
        })
    }

    pub(crate) fn maybe_roll(
        &self,
        inner: &mut LogInner,
        len: u64,
        last_offset: i64,
        now_ms: i64,
        config: &LogConfig,
    ) -> Result<()> {
        let seg = inner.active();
        if seg.is_empty() {
            return Ok(());
        }
        let full = seg.size() + len > config.segment_bytes;
        let old = now_ms - seg.created_ms > config.segment_ms;
        let overflow =
            last_offset - seg.base_offset > u32::MAX as i64 || seg.size() + len > u32::MAX as u64;
        if full || old || overflow {
            self.roll_locked(inner, now_ms)?;
        }
        Ok(())
    }

    /// Whether appending `len` bytes now would roll the active segment (an fsync of the old one,
    /// index writes, a producer snapshot): work that may wait for the disk.
    pub fn append_would_roll(&self, len: usize, now_ms: i64) -> bool {
        let (segment_bytes, segment_ms) = {
            let config = self.config.read();
            (config.segment_bytes, config.segment_ms)
        };
        let inner = self.inner.lock();
        let seg = inner.active();
        !seg.is_empty()
            && (seg.size() + len as u64 > segment_bytes
                || now_ms - seg.created_ms > segment_ms
                || seg.size() + len as u64 > u32::MAX as u64)
    }

    /// Closes the active segment (fsync, indexes, producer snapshot) and opens a new one at the log end.
    pub fn roll(&self) -> Result<()> {
        self.check_usable()?;
        let mut inner = self.inner.lock();
        self.roll_locked(&mut inner, wall_clock_ms())
    }

    /// Rolls the active segment if its first batch is older than `segment.ms` (wall clock).
    pub(crate) fn maybe_roll_by_time(&self, now_ms: i64) -> Result<()> {
        self.check_usable()?;
        let segment_ms = self.config.read().segment_ms;
        let mut inner = self.inner.lock();
        let active = inner.active();
        if !active.is_empty() && now_ms - active.created_ms > segment_ms {
            self.roll_locked(&mut inner, now_ms)?;
        }
        Ok(())
    }

    pub(crate) fn roll_locked(&self, inner: &mut LogInner, now_ms: i64) -> Result<()> {
        let new_base = inner.next_offset;
        if inner.active().is_empty() || inner.active().base_offset == new_base {
            return Ok(());
        }
        self.ctx.rolls.fetch_add(1, Ordering::Relaxed);
        let failure = &self.ctx.failure;
        let old = inner.active_mut();
        old.sync()
            .map_err(|e| failure.io_error(old.log_path(), "fsync at roll", e))?;
        old.persist_indexes()
            .map_err(|e| failure.io_error(old.log_path(), "write indexes at roll", e))?;
        inner
            .producers
            .take_snapshot(&self.dir, new_base)
            .map_err(|e| failure.io_error(&self.dir, "producer snapshot", e))?;
        let seg = LogSegment::create(&self.dir, new_base, now_ms).map_err(|e| {
            failure.io_error(
                &log_segment::segment_file(&self.dir, new_base, "log"),
                "create segment",
                e,
            )
        })?;
        fsync_dir(&self.dir).map_err(|e| failure.io_error(&self.dir, "fsync dir at roll", e))?;
        inner.active_mut().close_file();
        inner.segments.insert(new_base, seg);
        inner.recovery_point = inner.recovery_point.max(new_base);
        tracing::debug!(tp = %self.tp, base_offset = new_base, "rolled segment");
        Ok(())
    }

    /// The segment holding `offset` (the first one whose end is past it) with the file position to
    /// start scanning from, or None if no segment holds it.
    pub(crate) fn locate(&self, inner: &LogInner, offset: i64) -> Result<Option<SegmentSlice>> {
        let floor = inner
            .segments
            .range(..=offset)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(i64::MIN);
        let Some(seg) = inner
            .segments
            .range(floor..)
            .map(|(_, s)| s)
            .find(|s| s.next_offset() > offset)
        else {
            return Ok(None);
        };
        let file = match seg.file() {
            Some(f) => f.clone(),
            None => self
                .ctx
                .file_cache
                .get_or_open(seg.log_path())
                .map_err(|e| self.ctx.failure.io_error(seg.log_path(), "open segment", e))?,
        };
        Ok(Some(SegmentSlice {
            file,
            path: seg.log_path().to_path_buf(),
            start: seg.lookup_position(offset),
            end: seg.size(),
        }))
    }

    /// Checks `offset` against [log start, log end] and gives the read's offsets with no records.
    fn empty_read(&self, inner: &LogInner, offset: i64) -> Result<ReadResult> {
        let (ls, le) = (inner.log_start, inner.next_offset);
        if offset < ls || offset > le {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: ls,
                log_end: le,
            });
        }
        Ok(ReadResult {
            records: Bytes::new(),
            high_watermark: le,
            log_start_offset: ls,
            last_stable_offset: self.first_unstable.load(Ordering::Acquire).min(le),
        })
    }

    /// Like [`read`](Self::read), but returns the records as a file range to send without copying
    /// when the whole rest of the segment is below `upper_bound` (the usual case: reading up to the
    /// high watermark). Otherwise the records come back in `ReadResult::records`, as from `read`.
    /// A range that has left the page cache comes back `cold`. `readahead` false reads through a
    /// handle with the kernel's readahead off (readers catching up while producers wait for
    /// fsyncs).
    pub fn read_slice_with(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
        readahead: bool,
    ) -> Result<(ReadResult, Option<FileSlice>)> {
        self.check_usable()?;
        let (slice, result, whole_segment_visible, active_path) = {
            let inner = self.inner.lock();
            let le = inner.next_offset;
            let result = self.empty_read(&inner, offset)?;
            if offset == le || offset >= upper_bound {
                return Ok((result, None));
            }
            // Everything up to the log end is readable: any range of a segment may be sent as is.
            let visible = le <= upper_bound;
            let active_path = inner.active().log_path().to_path_buf();
            (self.locate(&inner, offset)?, result, visible, active_path)
        };
        if !whole_segment_visible {
            return self
                .read(offset, max_bytes, upper_bound, min_one)
                .map(|r| (r, None));
        }
        let Some(mut slice) = slice else {
            return Ok((result, None));
        };
        // A range that may have left the page cache: an older segment, or far behind the end of
        // the active one.
        let maybe_cold = slice.path != active_path
            || slice.end.saturating_sub(slice.start) > ACTIVE_COLD_DISTANCE;
        if maybe_cold && !readahead {
            // Before the first read of it: the kernel's readahead, once started on a handle,
            // cannot be stopped on that handle.
            slice.file = self
                .ctx
                .file_cache
                .get_or_open_without_readahead(&slice.path)
                .map_err(|e| self.ctx.failure.io_error(&slice.path, "open segment", e))?;
        }
        let io = |e| self.ctx.failure.io_error(&slice.path, "read", e);
        let Some((pos, first)) =
            log_segment::find_batch(&slice.file, slice.start, slice.end, offset).map_err(io)?
        else {
            return Ok((result, None));
        };
        let available = (slice.end - pos) as usize;
        let len = if first.size() > max_bytes {
            if !min_one {
                return Ok((result, None));
            }
            first.size().min(available)
        } else {
            max_bytes.min(available)
        };
        if len == 0 {
            return Ok((result, None));
        }
        // Older segments are usually not in the page cache, but a reader just behind the tail
        // reads them from memory: probe the range's pages without blocking before calling it cold.
        // In the active segment only a range far behind its end can have left the cache (a big
        // active segment read from its start after a restart, say).
        // Probed only when it matters: with readahead on, the range is sent as it is anyway, and
        // a probe of an uncached page would itself start the kernel's readahead there.
        let cold = maybe_cold && !readahead && !log_segment::is_cached(&slice.file, pos, len);
        Ok((
            result,
            Some(FileSlice {
                file: slice.file,
                position: pos,
                len,
                cold,
            }),
        ))
    }

    /// Reads whole batches starting with the one containing `offset`; see the crate docs.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<ReadResult> {
        self.check_usable()?;
        let (slice, mut result) = {
            let inner = self.inner.lock();
            let le = inner.next_offset;
            let result = self.empty_read(&inner, offset)?;
            if offset == le || offset >= upper_bound {
                return Ok(result);
            }
            (self.locate(&inner, offset)?, result)
        };
        let Some(slice) = slice else {
            return Ok(result);
        };
        let io = |e| self.ctx.failure.io_error(&slice.path, "read", e);
        let Some((pos, _)) =
            log_segment::find_batch(&slice.file, slice.start, slice.end, offset).map_err(io)?
        else {
            return Ok(result);
        };
        let data =
            log_segment::read_batches(&slice.file, pos, slice.end, max_bytes, upper_bound, min_one)
                .map_err(io)?;
        result.records = Bytes::from(data);
        Ok(result)
    }

    /// fsyncs the active segment if the log is not yet durable up to `target`; advances the
    /// recovery point. Called by the flusher thread (not under the append lock while syncing).
    pub(crate) fn flush_up_to(&self, target: i64) -> Result<()> {
        self.check_usable()?;
        let (file, path, end) = {
            let inner = self.inner.lock();
            if inner.recovery_point >= target.min(inner.next_offset) {
                return Ok(());
            }
            let seg = inner.active();
            match seg.file() {
                Some(f) => (f.clone(), seg.log_path().to_path_buf(), inner.next_offset),
                None => return Ok(()),
            }
        };
        log_segment::sync_file(&file).map_err(|e| self.ctx.failure.io_error(&path, "fsync", e))?;
        let mut inner = self.inner.lock();
        inner.recovery_point = inner.recovery_point.max(end);
        Ok(())
    }

    /// Clean close: fsync, persist the active segment's indexes and a producer snapshot.
    /// Nothing is fsynced here: [`LogManager::shutdown`] makes every closed log durable with one
    /// `syncfs` before it advances the recovery points and writes the clean-shutdown marker, so a
    /// crash during shutdown still leads to a full recovery.
    pub(crate) fn close(&self) -> Result<()> {
        let mut inner = self.inner.lock();
        if self.closed.swap(true, Ordering::AcqRel) || self.deleted.load(Ordering::Acquire) {
            return Ok(());
        }
        let failure = &self.ctx.failure;
        let next = inner.next_offset;
        let seg = inner.active_mut();
        seg.persist_indexes_with(false)
            .map_err(|e| failure.io_error(seg.log_path(), "write indexes at close", e))?;
        seg.close_file();
        inner
            .producers
            .take_snapshot_with(&self.dir, next, false)
            .map_err(|e| failure.io_error(&self.dir, "producer snapshot", e))?;
        inner.recovery_point = next;
        tracing::debug!(tp = %self.tp, log_end = next, "closed log");
        Ok(())
    }

    /// Marks the log deleted (every later call fails with LogDeleted) and drops its open file.
    pub(crate) fn mark_deleted(&self) {
        let mut inner = self.inner.lock();
        self.deleted.store(true, Ordering::Release);
        inner.active_mut().close_file();
        self.ctx.file_cache.evict_dir(&self.dir);
    }
}
