//! Removing data from the front of a log: time and size retention (only when `cleanup.policy`
//! includes `delete`), and DeleteRecords (advancing the log start offset, whatever the policy).
//! Only whole non-active segments are deleted.

use crate::error::{Result, StorageError};
use crate::unified_log::{LogInner, UnifiedLog};

impl UnifiedLog {
    /// Applies retention (time, size, and the log start offset); returns the number of segments deleted.
    pub fn delete_old_segments(&self, now_ms: i64) -> Result<usize> {
        self.check_usable()?;
        let config = self.config();
        let mut inner = self.inner.lock();
        let mut deleted = self.delete_segments_below_log_start(&mut inner)?;

        if config.cleanup_policy.delete && config.retention_ms >= 0 {
            let limit = now_ms.saturating_sub(config.retention_ms);
            let expired = |inner: &LogInner| {
                inner
                    .segments
                    .values()
                    .take_while(|s| {
                        let ts = if s.max_timestamp() >= 0 {
                            s.max_timestamp()
                        } else {
                            s.created_ms
                        };
                        ts < limit
                    })
                    .count()
            };
            let mut n = expired(&inner);
            if n == inner.segments.len() && !inner.active().is_empty() {
                // Everything, the active segment included, is past retention: roll so it can go.
                self.roll_locked(&mut inner, now_ms)?;
                n = expired(&inner);
            }
            let removable = n.min(inner.segments.len() - 1);
            for _ in 0..removable {
                self.delete_oldest_segment(&mut inner, "retention.ms")?;
                deleted += 1;
            }
        }

        if config.cleanup_policy.delete && config.retention_bytes >= 0 {
            let total: u64 = inner.segments.values().map(|s| s.size()).sum();
            let mut diff = total as i64 - config.retention_bytes;
            while inner.segments.len() > 1 {
                let Some(oldest) = inner.segments.values().next() else {
                    break;
                };
                let size = oldest.size() as i64;
                if diff - size < 0 {
                    break;
                }
                diff -= size;
                self.delete_oldest_segment(&mut inner, "retention.bytes")?;
                deleted += 1;
            }
        }

        if deleted > 0 {
            self.advance_log_start_to_first_segment(&mut inner)?;
        }
        Ok(deleted)
    }

    /// DeleteRecords: makes `offset` the new log start offset (persisted before returning) and
    /// deletes the segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        self.check_usable()?;
        let mut inner = self.inner.lock();
        let (ls, le) = (inner.log_start, inner.next_offset);
        if offset < 0 || offset > le {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: ls,
                log_end: le,
            });
        }
        if offset <= ls {
            return Ok(ls);
        }
        self.ctx
            .log_start_checkpoint
            .update_and_persist(self.topic_partition(), offset)
            .map_err(|e| {
                self.ctx.failure.io_error(
                    self.ctx.log_start_checkpoint.path(),
                    "write log start checkpoint",
                    e,
                )
            })?;
        self.set_log_start(&mut inner, offset);
        self.delete_segments_below_log_start(&mut inner)?;
        tracing::info!(tp = %self.topic_partition(), log_start = offset, "deleted records before offset");
        Ok(offset)
    }

    /// Deletes non-active segments whose successor starts at or below the log start offset.
    fn delete_segments_below_log_start(&self, inner: &mut LogInner) -> Result<usize> {
        let mut deleted = 0;
        while inner.segments.len() > 1 {
            let mut keys = inner.segments.keys();
            let (Some(_), Some(&second)) = (keys.next(), keys.next()) else {
                break;
            };
            if second > inner.log_start {
                break;
            }
            self.delete_oldest_segment(inner, "log start offset")?;
            deleted += 1;
        }
        Ok(deleted)
    }

    fn delete_oldest_segment(&self, inner: &mut LogInner, reason: &str) -> Result<()> {
        let Some((_, mut seg)) = inner.segments.pop_first() else {
            return Ok(());
        };
        self.ctx.file_cache.evict(seg.log_path());
        tracing::info!(
            tp = %self.topic_partition(), path = %seg.log_path().display(), base_offset = seg.base_offset,
            size = seg.size(), reason, "deleting segment"
        );
        seg.delete_files().map_err(|e| {
            self.ctx
                .failure
                .io_error(seg.log_path(), "delete segment", e)
        })
    }

    fn advance_log_start_to_first_segment(&self, inner: &mut LogInner) -> Result<()> {
        let first = inner
            .segments
            .keys()
            .next()
            .copied()
            .unwrap_or(inner.next_offset);
        if first > inner.log_start {
            self.ctx
                .log_start_checkpoint
                .update_and_persist(self.topic_partition(), first)
                .map_err(|e| {
                    self.ctx.failure.io_error(
                        self.ctx.log_start_checkpoint.path(),
                        "write log start checkpoint",
                        e,
                    )
                })?;
            self.set_log_start(inner, first);
        }
        Ok(())
    }
}
