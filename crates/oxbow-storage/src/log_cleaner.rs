//! Compacting one log (Kafka's `Cleaner.clean`):
//! 1. under the log's lock, take a view: the non-active segments, the first dirty offset (where the
//!    previous cleaning stopped) and the first uncleanable offset (the active segment, or the first
//!    segment younger than `min.compaction.lag.ms`);
//! 2. build the key -> latest offset map over the dirty segments (bounded memory, see
//!    [`crate::offset_map`]);
//! 3. group the segments from the log start to the end of the mapped range so that each group's
//!    input fits in one segment (small cleaned segments get merged on later passes);
//! 4. for each group, write the records to keep ([`crate::record_filter`]) to
//!    `{base}.log.cleaned`, fsync, and swap it in crash-safely ([`crate::cleaner_swap`]);
//! 5. the mapped range is now clean: the first dirty offset moves to its end.
//!
//! Reads and writes go through the [`Throttler`]; the active segment is never touched, and
//! appends, fetches and retention run concurrently (the swap re-checks its sources under the lock).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use crate::api::LogConfig;
use crate::batch::BatchHeader;
use crate::cleaner_io::{for_each_batch, Throttler};
use crate::cleaner_state::SegmentRef;
use crate::cleaner_swap::{cleaned_file, swap_in, SwapResult};
use crate::error::{Result, StorageError};
use crate::failure::io_fail_point;
use crate::log_segment::remove_if_exists;
use crate::offset_map::build_offset_map;
use crate::record_filter::{filter_batch, BatchAction, FilterContext, FilterStats};
use crate::transaction_index::AbortedSet;
use crate::unified_log::UnifiedLog;

/// What the cleaner sees of a log at one instant.
#[derive(Debug, Clone)]
pub(crate) struct CleanableView {
    pub segments: Vec<SegmentRef>,
    pub first_dirty: i64,
    pub first_uncleanable: i64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    /// Largest timestamp of the first dirty segment (for `max.compaction.lag.ms`).
    pub first_dirty_max_timestamp: Option<i64>,
}

impl CleanableView {
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }
}

/// Takes the view of `log` (under its lock).
pub(crate) fn cleanable_view(log: &UnifiedLog, config: &LogConfig, now_ms: i64) -> CleanableView {
    let first_dirty_state = log.cleaner.lock().first_dirty;
    let inner = log.inner.lock();
    let active_base = inner.active().base_offset;
    let first_dirty = first_dirty_state.max(inner.log_start);
    let lag_limit = now_ms.saturating_sub(config.min_compaction_lag_ms.max(0));
    // Never past an open transaction: whether its data stays is not known yet.
    let first_unstable_segment = inner
        .producers
        .first_unstable_offset()
        .and_then(|f| inner.segments.range(..=f).next_back().map(|(b, _)| *b))
        .unwrap_or(active_base);
    let mut first_uncleanable = active_base.min(first_unstable_segment);
    let mut segments = Vec::new();
    for seg in inner.segments.values() {
        if seg.base_offset == active_base {
            break;
        }
        if seg.base_offset >= first_dirty
            && config.min_compaction_lag_ms > 0
            && seg.max_timestamp() > lag_limit
        {
            first_uncleanable = first_uncleanable.min(seg.base_offset);
        }
        segments.push(SegmentRef {
            base_offset: seg.base_offset,
            size: seg.size(),
            path: seg.log_path().to_path_buf(),
            max_timestamp: seg.max_timestamp(),
        });
    }
    drop(inner);
    let mut view = CleanableView {
        segments,
        first_dirty,
        first_uncleanable,
        clean_bytes: 0,
        dirty_bytes: 0,
        first_dirty_max_timestamp: None,
    };
    for s in &view.segments {
        if s.base_offset < first_dirty {
            view.clean_bytes += s.size;
        } else if s.base_offset < first_uncleanable {
            view.dirty_bytes += s.size;
            view.first_dirty_max_timestamp
                .get_or_insert(s.max_timestamp);
        }
    }
    view
}

/// What one cleaning did.
#[derive(Debug, Default)]
pub(crate) struct CleanSummary {
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub segments_in: usize,
    pub segments_out: usize,
    pub aborted_groups: usize,
    pub end_offset: i64,
    pub stats: FilterStats,
}

/// Cleans `log` once. The caller (the cleaner manager) chose it and updates its state afterwards.
pub(crate) fn clean_log(
    log: &UnifiedLog,
    dedupe_buffer_bytes: usize,
    throttler: &mut Throttler,
    now_ms: i64,
) -> Result<CleanSummary> {
    let started = Instant::now();
    let config = log.config();
    let view = cleanable_view(log, &config, now_ms);
    let producer_last_batches = log.inner.lock().producers.last_batch_offsets();
    let tp = log.topic_partition().clone();
    let io = |op: &'static str| {
        let dir = log.dir().to_path_buf();
        move |e: io::Error| io_to_storage(log, dir, op, e)
    };

    let dirty: Vec<SegmentRef> = view
        .segments
        .iter()
        .filter(|s| s.base_offset >= view.first_dirty && s.base_offset < view.first_uncleanable)
        .cloned()
        .collect();
    let end = if dirty.is_empty() {
        view.first_dirty
    } else {
        view.first_uncleanable
    };
    let aborted = AbortedSet::new(log.all_aborted_transactions());
    let (map, end, map_read) =
        build_offset_map(&dirty, end, dedupe_buffer_bytes, &aborted, throttler)
            .map_err(io("build offset map"))?;
    let mut summary = CleanSummary {
        bytes_read: map_read,
        end_offset: end,
        ..Default::default()
    };
    let ctx = FilterContext {
        map: &map,
        producer_last_batches: &producer_last_batches,
        first_dirty: view.first_dirty,
        now_ms,
        delete_retention_ms: config.delete_retention_ms.max(0),
        aborted: &aborted,
        txn_data_kept: &std::cell::RefCell::default(),
    };
    let to_clean: Vec<SegmentRef> = view
        .segments
        .iter()
        .filter(|s| s.base_offset < end)
        .cloned()
        .collect();
    for group in group_by_size(&to_clean, config.segment_bytes) {
        summary.segments_in += group.len();
        match clean_group(log, &group, &ctx, &config, throttler, &mut summary)
            .map_err(io("clean segments"))?
        {
            SwapResult::Swapped { segments_out } => summary.segments_out += segments_out,
            SwapResult::Unchanged => summary.segments_out += 1,
            SwapResult::SourcesChanged => {
                // Retention or DeleteRecords moved the log meanwhile: what this pass decided
                // about later groups (which markers may go) assumed these sources; stop here.
                summary.aborted_groups += 1;
                break;
            }
        }
    }
    tracing::info!(
        tp = %tp, first_dirty = view.first_dirty, end_offset = end, keys = map.len(),
        segments_in = summary.segments_in, segments_out = summary.segments_out,
        records_read = summary.stats.records_read, records_kept = summary.stats.records_kept,
        tombstones_dropped = summary.stats.tombstones_dropped,
        bytes_read = summary.bytes_read, bytes_written = summary.bytes_written,
        throttled_ms = throttler.throttled.as_millis() as u64,
        elapsed_ms = started.elapsed().as_millis() as u64, "cleaned log"
    );
    Ok(summary)
}

fn io_to_storage(log: &UnifiedLog, dir: PathBuf, op: &'static str, e: io::Error) -> StorageError {
    if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::NotFound {
        // Stopping, or a source segment deleted by retention meanwhile: not a disk failure.
        return StorageError::Io {
            path: dir,
            op,
            source: e,
        };
    }
    log.ctx.failure.io_error(&dir, op, e)
}

/// Consecutive segments whose total input size fits in one segment (and whose offsets fit the
/// 32-bit relative offsets of an index).
pub(crate) fn group_by_size(segments: &[SegmentRef], max_bytes: u64) -> Vec<Vec<SegmentRef>> {
    let mut groups: Vec<Vec<SegmentRef>> = Vec::new();
    let mut size = 0u64;
    for (i, s) in segments.iter().enumerate() {
        let next_base = segments
            .get(i + 1)
            .map(|n| n.base_offset)
            .unwrap_or(s.base_offset);
        let fits = groups.last().is_some_and(|g| {
            size + s.size <= max_bytes.min(u32::MAX as u64)
                && next_base - g[0].base_offset <= i32::MAX as i64
        });
        if fits {
            size += s.size;
            if let Some(g) = groups.last_mut() {
                g.push(s.clone());
            }
        } else {
            size = s.size;
            groups.push(vec![s.clone()]);
        }
    }
    groups
}

/// Writes the kept records of `group` to `{base}.log.cleaned` and swaps it in.
fn clean_group(
    log: &UnifiedLog,
    group: &[SegmentRef],
    ctx: &FilterContext,
    config: &LogConfig,
    throttler: &mut Throttler,
    summary: &mut CleanSummary,
) -> io::Result<SwapResult> {
    let base = group[0].base_offset;
    let path = cleaned_file(log.dir(), base);
    let result = write_cleaned(&path, group, ctx, throttler, summary);
    let written = match result {
        Ok(w) => w,
        Err(e) => {
            let _ = remove_if_exists(&path);
            return Err(e);
        }
    };
    let input: u64 = group.iter().map(|s| s.size).sum();
    if group.len() == 1 && written.bytes == input {
        remove_if_exists(&path)?;
        return Ok(SwapResult::Unchanged);
    }
    swap_in(
        log,
        group,
        &path,
        written.batches,
        config.index_interval_bytes,
    )
}

pub(crate) struct Written {
    pub bytes: u64,
    /// (position, header) of every batch written, to build the indexes.
    pub batches: Vec<(u64, BatchHeader)>,
}

fn write_cleaned(
    path: &PathBuf,
    group: &[SegmentRef],
    ctx: &FilterContext,
    throttler: &mut Throttler,
    summary: &mut CleanSummary,
) -> io::Result<Written> {
    let file = File::create(path)?;
    let mut out = BufWriter::with_capacity(256 * 1024, &file);
    let mut written = Written {
        bytes: 0,
        batches: Vec::new(),
    };
    for seg in group {
        for_each_batch(&seg.path, seg.size, throttler, |_, h, bytes| {
            summary.bytes_read += bytes.len() as u64;
            let before = written.bytes;
            match filter_batch(bytes, h, ctx, &mut summary.stats) {
                BatchAction::Drop => {}
                BatchAction::Keep => {
                    out.write_all(bytes)?;
                    written.batches.push((written.bytes, *h));
                    written.bytes += bytes.len() as u64;
                }
                BatchAction::Rewrite(new) => {
                    let mut pos = 0usize;
                    while let Some(nh) = new.get(pos..).and_then(BatchHeader::parse) {
                        written.batches.push((written.bytes + pos as u64, nh));
                        pos += nh.size();
                    }
                    out.write_all(&new)?;
                    written.bytes += new.len() as u64;
                }
            }
            summary.bytes_written += written.bytes - before;
            Ok(written.bytes - before)
        })?;
    }
    out.flush()?;
    drop(out);
    io_fail_point!("oxbow-storage::cleaner-write");
    file.sync_data()?;
    Ok(written)
}
