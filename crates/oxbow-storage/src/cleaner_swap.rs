//! Replacing a group of segments with their cleaned version, crash-safely, and finishing an
//! interrupted replacement when the log is loaded.
//!
//! The steps, each durable before the next (failpoints in brackets):
//! 1. `{base}.log.cleaned` is written and fsynced [`cleaner-write`]. A crash now: the loader
//!    deletes `.cleaned` files; the old segments are intact.
//! 2. It is renamed to `{base}.log.swap` and the directory fsynced [`cleaner-swap-file`]. This is
//!    the commit point: from now on the loader completes the swap.
//! 3. Each source segment's files are renamed to `.deleted` and removed [`cleaner-source-deleted`,
//!    after each source].
//! 4. `{base}.log.swap` is renamed to `{base}.log`, the directory fsynced [`cleaner-rename`], and
//!    the new segment's indexes written.
//!
//! Completing a swap at load: the `.swap` file's batches cover `[base, next)`; every segment whose
//! base offset lies in that range is one of its sources and is deleted (sources past `next` held
//! only records that compaction removed and are harmlessly kept), then the file is renamed and its
//! indexes rebuilt. No record that should stay is lost and no two segments overlap.
//!
//! A group whose records are all removed produces no file: its sources are simply deleted (a crash
//! in between leaves some of them, which hold only removed records).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::batch::{BatchHeader, RECORD_BATCH_OVERHEAD};
use crate::checkpoint::fsync_dir;
use crate::cleaner_state::SegmentRef;
use crate::clock::wall_clock_ms;
use crate::failure::io_fail_point;
use crate::log_segment::{
    self, ChunkedReader, LogSegment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::transaction_index::TXN_INDEX_SUFFIX;
use crate::unified_log::UnifiedLog;

pub const CLEANED_SUFFIX: &str = ".cleaned";
pub const SWAP_SUFFIX: &str = ".swap";

pub(crate) fn cleaned_file(dir: &Path, base: i64) -> PathBuf {
    with_suffix(
        &log_segment::segment_file(dir, base, LOG_SUFFIX),
        CLEANED_SUFFIX,
    )
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SwapResult {
    Swapped {
        segments_out: usize,
    },
    /// Nothing to remove: the source was left as it is.
    Unchanged,
    /// A source was deleted or changed meanwhile (retention, DeleteRecords): cleaning abandoned.
    SourcesChanged,
}

/// Replaces `sources` with the cleaned file at `cleaned` (holding `batches`), under the log's lock.
pub(crate) fn swap_in(
    log: &UnifiedLog,
    sources: &[SegmentRef],
    cleaned: &Path,
    batches: Vec<(u64, BatchHeader)>,
    index_interval_bytes: u32,
) -> io::Result<SwapResult> {
    let mut inner = log.inner.lock();
    let active_base = inner.active().base_offset;
    let intact = log.check_usable().is_ok()
        && sources.iter().all(|s| {
            s.base_offset < active_base
                && inner
                    .segments
                    .get(&s.base_offset)
                    .is_some_and(|seg| seg.size() == s.size)
        });
    if !intact {
        drop(inner);
        tracing::info!(tp = %log.topic_partition(), base_offset = sources[0].base_offset, "cleaner: sources changed during cleaning, abandoning");
        log_segment::remove_if_exists(cleaned)?;
        return Ok(SwapResult::SourcesChanged);
    }
    let dir = log.dir().to_path_buf();
    let base = sources[0].base_offset;
    let swap = with_suffix(
        &log_segment::segment_file(&dir, base, LOG_SUFFIX),
        SWAP_SUFFIX,
    );
    let empty = batches.is_empty();
    if empty {
        log_segment::remove_if_exists(cleaned)?;
    } else {
        fs::rename(cleaned, &swap)?;
        fsync_dir(&dir)?;
        io_fail_point!("oxbow-storage::cleaner-swap-file");
    }
    let was_first = inner.segments.keys().next() == Some(&base);
    for s in sources {
        if let Some(mut seg) = inner.segments.remove(&s.base_offset) {
            log.ctx.file_cache.evict(seg.log_path());
            seg.delete_files()?;
            io_fail_point!("oxbow-storage::cleaner-source-deleted");
        }
    }
    if empty {
        if was_first {
            // Keep an empty segment at the group's base so the log start offset does not move:
            // a consumer positioned inside the compacted-away range must read on from the next
            // surviving record, not be told its offset is out of range (Kafka keeps it too).
            let seg = LogSegment::create(&dir, base, wall_clock_ms())?;
            inner.segments.insert(base, seg);
        }
        fsync_dir(&dir)?;
        tracing::info!(tp = %log.topic_partition(), base_offset = base, sources = sources.len(), "cleaner: removed segments with nothing left to keep");
        return Ok(SwapResult::Swapped { segments_out: 0 });
    }
    let target = log_segment::segment_file(&dir, base, LOG_SUFFIX);
    fs::rename(&swap, &target)?;
    fsync_dir(&dir)?;
    io_fail_point!("oxbow-storage::cleaner-rename");
    let mut seg = LogSegment::open_existing(&dir, base, wall_clock_ms())?;
    for (pos, h) in &batches {
        seg.on_batch_appended(*pos, h, index_interval_bytes);
    }
    seg.persist_indexes()?;
    tracing::debug!(tp = %log.topic_partition(), base_offset = base, sources = sources.len(), size = seg.size(), "cleaner: swapped in cleaned segment");
    inner.segments.insert(base, seg);
    Ok(SwapResult::Swapped { segments_out: 1 })
}

/// Completes every swap interrupted by a crash in `dir` (before leftover files are removed).
/// Returns the base offsets of the segments swapped in, whose indexes must be rebuilt.
pub(crate) fn complete_interrupted_swaps(dir: &Path) -> io::Result<BTreeSet<i64>> {
    let mut swaps = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(&format!(".{LOG_SUFFIX}{SWAP_SUFFIX}")) else {
            continue;
        };
        if let Ok(base) = stem.parse::<i64>() {
            swaps.push((base, path));
        }
    }
    let mut rebuilt = BTreeSet::new();
    for (base, swap) in swaps {
        let next = next_offset_of(&swap)?;
        let end = next.max(base + 1);
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some((stem, ext)) = name.split_once('.') else {
                continue;
            };
            // The cleaned segment holds no aborted data, so no transaction index either.
            let replaced = matches!(
                ext,
                LOG_SUFFIX | INDEX_SUFFIX | TIME_INDEX_SUFFIX | TXN_INDEX_SUFFIX
            ) && stem.parse::<i64>().is_ok_and(|b| b >= base && b < end);
            if replaced {
                tracing::info!(path = %path.display(), "completing interrupted cleaner swap: removing replaced file");
                log_segment::remove_if_exists(&path)?;
            }
        }
        let target = log_segment::segment_file(dir, base, LOG_SUFFIX);
        fs::rename(&swap, &target)?;
        fsync_dir(dir)?;
        tracing::info!(path = %target.display(), end_offset = next, "completed interrupted cleaner swap");
        rebuilt.insert(base);
    }
    Ok(rebuilt)
}

/// The offset after the last whole batch of a segment file (its base if it has none).
fn next_offset_of(path: &Path) -> io::Result<i64> {
    let file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut reader = ChunkedReader::new(&file, len);
    let mut pos = 0u64;
    let mut next = i64::MIN;
    while let Some(h) = reader
        .read(pos, RECORD_BATCH_OVERHEAD)?
        .and_then(BatchHeader::parse)
    {
        if crate::batch::check_header(&h).is_some() || pos + h.size() as u64 > len {
            break;
        }
        next = next.max(h.last_offset() + 1);
        pos += h.size() as u64;
    }
    if next == i64::MIN {
        let base = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').next())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        return Ok(base);
    }
    Ok(next)
}
