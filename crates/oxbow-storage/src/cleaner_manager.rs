//! Choosing what to compact and running the cleaner thread (Kafka's LogCleanerManager and
//! CleanerThread).
//!
//! A log is a candidate when its `cleanup.policy` includes `compact` and either
//! - its dirty ratio (bytes of the dirty segments over bytes of all non-active segments below the
//!   first uncleanable offset) is at least `min.cleanable.dirty.ratio`, or
//! - its first dirty segment is older than `max.compaction.lag.ms`, or
//! - a tombstone it kept has passed `delete.retention.ms` (so tombstones vanish even on a quiet log).
//!
//! The thread cleans the dirtiest candidate, then looks again; when there is none it sleeps
//! `log.cleaner.backoff.ms`. One thread, so at most one log is rewritten at a time, and all its I/O
//! goes through one throttler. The first dirty offset of each log is checkpointed to
//! `cleaner-offset-checkpoint` so that a restart does not re-clean everything.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::api::{CleanerMetrics, CleanerOptions, TopicPartition};
use crate::checkpoint;
use crate::cleaner_io::{StopSignal, Throttler};
use crate::cleaner_state::{CleanerHandle, CLEANER_OFFSET_CHECKPOINT};
use crate::clock::wall_clock_ms;
use crate::error::{Result, StorageError};
use crate::log_cleaner::{clean_log, cleanable_view};
use crate::log_manager::LogManager;
use crate::unified_log::UnifiedLog;

impl UnifiedLog {
    /// The cleaner's metrics for this log (dirty ratio computed now).
    pub fn cleaner_metrics(&self) -> CleanerMetrics {
        let config = self.config();
        let view = cleanable_view(self, &config, wall_clock_ms());
        let s = self.cleaner.lock().clone();
        CleanerMetrics {
            dirty_ratio: view.dirty_ratio(),
            last_clean_ms: s.last_clean_ms,
            last_duration_ms: s.last_duration_ms,
            bytes_read: s.bytes_read,
            bytes_written: s.bytes_written,
        }
    }

    /// The offset below which the log has been compacted (the cleaner checkpoint).
    pub fn cleaner_first_dirty_offset(&self) -> i64 {
        self.cleaner.lock().first_dirty.max(self.log_start_offset())
    }
}

/// Why a log is worth cleaning now, with its priority (higher first).
fn candidate_priority(log: &UnifiedLog, now_ms: i64) -> Option<f64> {
    let config = log.config();
    if !config.cleanup_policy.compact || log.check_usable().is_err() {
        return None;
    }
    let view = cleanable_view(log, &config, now_ms);
    let ratio = view.dirty_ratio();
    if view.dirty_bytes > 0 {
        if ratio >= config.min_cleanable_dirty_ratio {
            return Some(ratio);
        }
        let overdue = view
            .first_dirty_max_timestamp
            .is_some_and(|ts| ts >= 0 && now_ms.saturating_sub(ts) > config.max_compaction_lag_ms);
        if overdue {
            return Some(1.0 + ratio);
        }
    }
    let expiry = log.cleaner.lock().tombstone_expiry_ms;
    if expiry.is_some_and(|e| e <= now_ms) {
        return Some(ratio);
    }
    None
}

impl LogManager {
    /// Starts the background cleaner thread (no-op if already running).
    pub fn start_cleaner(self: &Arc<Self>, opts: CleanerOptions) -> Result<()> {
        let mut slot = self.cleaner.lock();
        if slot.is_some() {
            return Ok(());
        }
        let stop = Arc::new(StopSignal::default());
        let weak: Weak<LogManager> = Arc::downgrade(self);
        let thread_stop = stop.clone();
        let thread_opts = opts.clone();
        let thread = std::thread::Builder::new()
            .name("oxbow-log-cleaner".into())
            .spawn(move || cleaner_loop(weak, thread_opts, thread_stop))
            .map_err(|source| StorageError::Io {
                path: self.dir().to_path_buf(),
                op: "start cleaner thread",
                source,
            })?;
        tracing::info!(
            io_max_bytes_per_second = opts.io_max_bytes_per_second,
            backoff_ms = opts.backoff_ms,
            dedupe_buffer_bytes = opts.dedupe_buffer_bytes,
            "log cleaner started"
        );
        *slot = Some(CleanerHandle {
            stop,
            thread: Mutex::new(Some(thread)),
        });
        Ok(())
    }

    /// Stops the cleaner thread, if running, and waits for it (a cleaning in progress stops at its
    /// next check; a half-written cleaned segment is discarded at the next start).
    pub fn stop_cleaner(&self) {
        if let Some(cleaner) = self.cleaner.lock().take() {
            cleaner.stop();
        }
    }

    /// Cleans the dirtiest log that needs it, if any; returns whether one was cleaned.
    /// The cleaner thread calls this; tests call it directly.
    pub fn clean_dirtiest(&self, opts: &CleanerOptions, now_ms: i64) -> Result<bool> {
        let stop = Arc::new(StopSignal::default());
        let mut throttler = Throttler::new(opts.io_max_bytes_per_second, stop);
        self.clean_dirtiest_with(opts, &mut throttler, now_ms)
    }

    fn clean_dirtiest_with(
        &self,
        opts: &CleanerOptions,
        throttler: &mut Throttler,
        now_ms: i64,
    ) -> Result<bool> {
        let mut best: Option<(f64, Arc<UnifiedLog>)> = None;
        for log in self.logs() {
            if let Some(p) = candidate_priority(&log, now_ms) {
                if best.as_ref().map_or(true, |(bp, _)| p > *bp) {
                    best = Some((p, log));
                }
            }
        }
        let Some((priority, log)) = best else {
            return Ok(false);
        };
        tracing::debug!(tp = %log.topic_partition(), priority, "cleaner: chose log");
        let started = Instant::now();
        let summary = clean_log(&log, opts.dedupe_buffer_bytes, throttler, now_ms)?;
        {
            let mut s = log.cleaner.lock();
            s.first_dirty = s.first_dirty.max(summary.end_offset);
            s.last_clean_ms = wall_clock_ms();
            s.last_duration_ms = started.elapsed().as_millis() as i64;
            s.bytes_read += summary.bytes_read;
            s.bytes_written += summary.bytes_written;
            s.tombstone_expiry_ms = summary.stats.next_tombstone_expiry_ms;
        }
        self.checkpoint_cleaner_offsets()?;
        Ok(true)
    }

    /// Writes every log's first dirty offset to `cleaner-offset-checkpoint`.
    pub(crate) fn checkpoint_cleaner_offsets(&self) -> Result<()> {
        let points: BTreeMap<TopicPartition, i64> = self
            .logs()
            .iter()
            .map(|l| (l.topic_partition().clone(), l.cleaner.lock().first_dirty))
            .filter(|(_, o)| *o > 0)
            .collect();
        let path = self.dir().join(CLEANER_OFFSET_CHECKPOINT);
        checkpoint::write_checkpoint(&path, &points).map_err(|e| StorageError::Io {
            path: path.clone(),
            op: "write cleaner offset checkpoint",
            source: e,
        })
    }
}

fn cleaner_loop(manager: Weak<LogManager>, opts: CleanerOptions, stop: Arc<StopSignal>) {
    let mut throttler = Throttler::new(opts.io_max_bytes_per_second, stop.clone());
    let backoff = Duration::from_millis(opts.backoff_ms.max(1));
    while !stop.is_stopped() {
        let Some(m) = manager.upgrade() else {
            break;
        };
        let outcome = if m.is_offline() {
            Ok(false)
        } else {
            m.clean_dirtiest_with(&opts, &mut throttler, wall_clock_ms())
        };
        drop(m);
        let cleaned = match outcome {
            Ok(c) => c,
            Err(e) => {
                if !stop.is_stopped() {
                    tracing::warn!(error = %e, "log cleaner: cleaning failed, backing off");
                }
                false
            }
        };
        if !cleaned && stop.sleep(backoff) {
            break;
        }
    }
    tracing::info!("log cleaner stopped");
}
