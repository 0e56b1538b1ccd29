//! Truncating a log's tail, as Kafka's `UnifiedLog.truncateTo` does: everything from the batch
//! holding the target offset on is removed, so the log ends at that batch's base offset (at the
//! target itself when it falls on a batch boundary). Replication needs it (a follower truncates
//! to the leader's epoch end offset); a single node only uses it through the storage interface.

use std::fs::OpenOptions;

use crate::error::{Result, StorageError};
use crate::log_segment;
use crate::unified_log::UnifiedLog;

impl UnifiedLog {
    /// Removes every batch whose last offset is `offset` or later; returns the new log end.
    /// Offsets at or past the log end change nothing; a cut that would end the log below its
    /// start (an offset below it, or inside the batch holding it) is refused.
    /// The truncated segment is fsynced before this returns; whole segments past it are deleted.
    pub fn truncate_to(&self, offset: i64) -> Result<i64> {
        self.check_usable()?;
        let interval = self.config().index_interval_bytes;
        let mut inner = self.inner.lock();
        self.check_usable()?;
        let end = inner.next_offset;
        if offset >= end {
            return Ok(end);
        }
        if offset < inner.log_start {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: inner.log_start,
                log_end: end,
            });
        }
        let failure = &self.ctx.failure;
        // The segment holding the target, and where in it the batch holding the target starts.
        let Some((&seg_base, seg)) = inner.segments.range(..=offset).next_back() else {
            return Ok(end);
        };
        let path = seg.log_path().to_path_buf();
        let io = |e| failure.io_error(&path, "truncate segment", e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let start = if offset > seg_base {
            seg.lookup_position(offset)
        } else {
            0
        };
        let found = log_segment::find_batch(&file, start, seg.size(), offset).map_err(io)?;
        // A cut inside the batch that holds the log start would end the log below its start.
        if let Some((_, batch)) = &found {
            if batch.base_offset < inner.log_start {
                return Err(StorageError::OffsetOutOfRange {
                    requested: offset,
                    log_start: inner.log_start,
                    log_end: end,
                });
            }
        }
        let cut = found.map_or(seg.size(), |(pos, _)| pos);

        // Every later segment goes, then the holding segment is cut and becomes the active one.
        let later: Vec<i64> = inner
            .segments
            .range(seg_base + 1..)
            .map(|(base, _)| *base)
            .collect();
        for base in later.into_iter().rev() {
            if let Some(mut later) = inner.segments.remove(&base) {
                let path = later.log_path().to_path_buf();
                later
                    .delete_files()
                    .map_err(|e| failure.io_error(&path, "delete truncated segment", e))?;
            }
        }
        self.ctx.file_cache.evict_dir(self.dir());
        file.set_len(cut).map_err(io)?;
        file.sync_all().map_err(io)?;
        let seg = inner.active_mut();
        seg.close_file();
        seg.recover(interval).map_err(io)?;
        seg.open_for_append().map_err(io)?;
        let new_end = seg.next_offset();

        inner.next_offset = new_end;
        self.set_log_end(new_end);
        inner.recovery_point = inner.recovery_point.min(new_end);
        let producers =
            crate::log_loader::load_producer_state(self.dir(), &mut inner.segments, new_end)?;
        inner.producers = producers;
        self.refresh_first_unstable(&inner);
        self.refresh_has_aborted(&inner);
        drop(inner);
        let mut cleaner = self.cleaner.lock();
        cleaner.first_dirty = cleaner.first_dirty.min(new_end);
        drop(cleaner);
        tracing::info!(tp = %self.topic_partition(), from = end, to = new_end, "truncated log");
        Ok(new_end)
    }
}
