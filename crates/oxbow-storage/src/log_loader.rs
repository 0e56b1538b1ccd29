//! Loading a partition log from disk (Kafka's LogLoader), including crash recovery.
//!
//! After a clean shutdown the segments and their indexes are trusted (indexes are sanity checked
//! and rebuilt if needed). After a crash, every segment from the one holding the recovery point
//! onwards is scanned batch by batch (framing + CRC), truncated at the first torn or corrupt
//! batch, later segments are deleted, and indexes rebuilt. Producer state is then restored from
//! the newest snapshot plus a replay of the batch headers after it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::api::{LogConfig, TopicPartition};
use crate::batch::{BatchHeader, TxnMarker, CONTROL_KEY_PROBE_LEN, RECORD_BATCH_OVERHEAD};
use crate::checkpoint::fsync_dir;
use crate::clock::wall_clock_ms;
use crate::error::{Result, StorageError};
use crate::log_segment::{
    self, ChunkedReader, LogSegment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::producer_state::ProducerStateManager;
use crate::transaction_index::TXN_INDEX_SUFFIX;
use crate::unified_log::{LogDirContext, LogInner, UnifiedLog};

/// Suffixes of files left by interrupted deletes, cleanings and swaps (and our tmp files).
const LEFTOVER_SUFFIXES: [&str; 4] = [".deleted", ".cleaned", ".swap", ".tmp"];

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// Loads (or, for an empty directory, initialises) the log in `dir`.
pub(crate) fn load_log(
    dir: &Path,
    tp: TopicPartition,
    config: LogConfig,
    clean: bool,
    recovery_point: Option<i64>,
    ctx: LogDirContext,
) -> Result<UnifiedLog> {
    let now = wall_clock_ms();
    let interval = config.index_interval_bytes;
    let mut segments = BTreeMap::new();
    let swapped = crate::cleaner_swap::complete_interrupted_swaps(dir)
        .map_err(io_err(dir, "complete interrupted cleaner swap"))?;
    for base in clean_and_list_segments(dir).map_err(io_err(dir, "list log directory"))? {
        let seg = LogSegment::open_existing(dir, base, now).map_err(io_err(
            &log_segment::segment_file(dir, base, LOG_SUFFIX),
            "open segment",
        ))?;
        segments.insert(base, seg);
    }

    let mut recovered = BTreeSet::new();
    let recover_from = if clean {
        i64::MAX
    } else {
        let rp = recovery_point.unwrap_or(0);
        segments
            .range(..=rp)
            .next_back()
            .or(segments.iter().next())
            .map(|(b, _)| *b)
            .unwrap_or(0)
    };
    let mut truncated_in = None;
    for (&base, seg) in segments.iter_mut() {
        let path = seg.log_path().to_path_buf();
        if base < recover_from && !swapped.contains(&base) {
            if seg.load_trusted().map_err(io_err(&path, "load segment"))? {
                continue;
            }
            seg.recover(interval)
                .map_err(io_err(&path, "rebuild segment"))?;
            recovered.insert(base);
            continue;
        }
        let dropped = seg
            .recover(interval)
            .map_err(io_err(&path, "recover segment"))?;
        recovered.insert(base);
        if dropped > 0 && base >= recover_from {
            truncated_in = Some(base);
            break;
        }
    }
    if let Some(t) = truncated_in {
        let later: Vec<i64> = segments.range(t + 1..).map(|(b, _)| *b).collect();
        for b in later {
            if let Some(mut seg) = segments.remove(&b) {
                tracing::warn!(tp = %tp, path = %seg.log_path().display(), "deleting segment after a truncated one");
                seg.delete_files()
                    .map_err(io_err(dir, "delete segment after truncation"))?;
            }
        }
    }

    let ckpt_start = ctx.log_start_checkpoint.get(&tp);
    if segments.is_empty() {
        let base = ckpt_start.unwrap_or(0).max(0);
        let seg = LogSegment::create(dir, base, now).map_err(io_err(dir, "create segment"))?;
        segments.insert(base, seg);
        fsync_dir(dir).map_err(io_err(dir, "fsync log directory"))?;
    }
    let first_base = segments.keys().next().copied().unwrap_or(0);
    let mut next_offset = segments
        .values()
        .next_back()
        .map(|s| s.next_offset())
        .unwrap_or(first_base);
    let log_start = ckpt_start.unwrap_or(first_base).max(first_base);
    if log_start > next_offset {
        tracing::warn!(tp = %tp, log_start, log_end = next_offset, "log start offset beyond log end: starting empty at log start");
        for (_, mut seg) in std::mem::take(&mut segments) {
            seg.delete_files().map_err(io_err(dir, "delete segment"))?;
        }
        recovered.clear();
        let seg = LogSegment::create(dir, log_start, now).map_err(io_err(dir, "create segment"))?;
        segments.insert(log_start, seg);
        fsync_dir(dir).map_err(io_err(dir, "fsync log directory"))?;
        next_offset = log_start;
    }

    let active_base = segments.keys().next_back().copied().unwrap_or(log_start);
    for base in &recovered {
        if *base == active_base {
            continue;
        }
        if let Some(seg) = segments.get_mut(base) {
            let path = seg.log_path().to_path_buf();
            File::open(&path)
                .and_then(|f| f.sync_data())
                .map_err(io_err(&path, "fsync recovered segment"))?;
            seg.persist_indexes()
                .map_err(io_err(&path, "write rebuilt indexes"))?;
        }
    }
    if let Some(active) = segments.get_mut(&active_base) {
        let path = active.log_path().to_path_buf();
        active
            .open_for_append()
            .map_err(io_err(&path, "open active segment"))?;
    }

    let producers = load_producer_state(dir, &mut segments, next_offset)?;
    let recovery_point = if clean {
        next_offset
    } else {
        recovery_point
            .unwrap_or(0)
            .max(active_base)
            .min(next_offset)
    };
    ctx.log_start_checkpoint.set(&tp, log_start);
    if !clean || !recovered.is_empty() {
        tracing::info!(
            tp = %tp, dir = %dir.display(), log_start, log_end = next_offset, segments = segments.len(),
            recovered_segments = recovered.len(), "recovered log"
        );
    }
    let inner = LogInner {
        segments,
        next_offset,
        log_start,
        recovery_point,
        producers,
    };
    Ok(UnifiedLog::from_parts(
        tp,
        dir.to_path_buf(),
        config,
        inner,
        ctx,
    ))
}

/// Removes leftover temporary files and orphan indexes; returns the segments' base offsets.
fn clean_and_list_segments(dir: &Path) -> io::Result<Vec<i64>> {
    let mut bases = BTreeSet::new();
    let mut indexes: Vec<(i64, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if LEFTOVER_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            tracing::info!(path = %path.display(), "removing leftover file");
            log_segment::remove_if_exists(&path)?;
            continue;
        }
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        match ext {
            LOG_SUFFIX => {
                bases.insert(base);
            }
            INDEX_SUFFIX | TIME_INDEX_SUFFIX | TXN_INDEX_SUFFIX => indexes.push((base, path)),
            _ => {}
        }
    }
    for (base, path) in indexes {
        if !bases.contains(&base) {
            tracing::info!(path = %path.display(), "removing orphan index");
            log_segment::remove_if_exists(&path)?;
        }
    }
    Ok(bases.into_iter().collect())
}

/// Newest snapshot at or below the log end, then a replay of batch headers after it. Abort
/// markers met on the way go (back) into their segment's transaction index.
pub(crate) fn load_producer_state(
    dir: &Path,
    segments: &mut BTreeMap<i64, LogSegment>,
    log_end: i64,
) -> Result<ProducerStateManager> {
    let mut producers = ProducerStateManager::new();
    let from = producers
        .load_snapshot(dir, log_end)
        .map_err(io_err(dir, "load producer snapshot"))?
        .unwrap_or(i64::MIN);
    for seg in segments.values_mut() {
        if seg.next_offset() <= from || seg.is_empty() {
            continue;
        }
        let mut aborted = Vec::new();
        let path = seg.log_path();
        let owned;
        let file = match seg.file() {
            Some(f) => f.as_ref(),
            None => {
                owned =
                    File::open(path).map_err(io_err(path, "open segment for producer state"))?;
                &owned
            }
        };
        let mut reader = ChunkedReader::new(file, seg.size());
        let mut pos = if from > seg.base_offset {
            seg.lookup_position(from)
        } else {
            0
        };
        while pos < seg.size() {
            let header = reader
                .read(pos, RECORD_BATCH_OVERHEAD)
                .map_err(io_err(path, "replay producer state"))?;
            let Some(h) = header.and_then(BatchHeader::parse) else {
                break;
            };
            if h.base_offset >= from {
                let marker = if h.is_control() {
                    reader
                        .read(pos, RECORD_BATCH_OVERHEAD + CONTROL_KEY_PROBE_LEN)
                        .map_err(io_err(path, "replay transaction marker"))?
                        .and_then(|b| TxnMarker::decode(&h, b))
                } else {
                    None
                };
                aborted.extend(producers.replay(&h, marker.as_ref()));
            }
            pos += h.size() as u64;
        }
        let index_path = seg.txn_index().path().to_path_buf();
        for entry in aborted {
            seg.txn_index_mut()
                .append(entry)
                .map_err(io_err(&index_path, "rebuild transaction index"))?;
        }
    }
    Ok(producers)
}
