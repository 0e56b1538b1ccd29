//! The transactional side of a partition log: writing commit and abort markers (Kafka's
//! WriteTxnMarkers applied to one partition), the aborted transactions a `read_committed` reader
//! of a range must be told about, and the producers' state for DescribeProducers.

use std::sync::atomic::Ordering;

use crate::api::AppendInfo;
use crate::batch::{BatchHeader, TxnMarker};
use crate::error::Result;
use crate::producer_state::ProducerStateEntry;
use crate::transaction_index::AbortedTxn;
use crate::unified_log::UnifiedLog;

impl UnifiedLog {
    /// Appends a marker ending `marker.producer_id`'s transaction in this partition. A marker of
    /// an epoch older than the producer's is refused (INVALID_PRODUCER_EPOCH); a marker for a
    /// producer with no open transaction is still written (a retried marker, or an operator's
    /// abort of a hanging transaction), as Kafka does.
    pub fn write_txn_marker(&self, marker: &TxnMarker, now_ms: i64) -> Result<AppendInfo> {
        self.check_usable()?;
        let config = self.config();
        let bytes = marker.encode(now_ms);
        let mut inner = self.inner.lock();
        self.check_usable()?;
        let offset = inner.next_offset;
        let lso_before = inner.producers.first_unstable_offset();
        // Checked before anything is written; applied only once the bytes are in the file.
        inner.producers.check_marker(marker)?;
        let first = inner.producers.open_txn_first_offset(marker.producer_id);
        let mut batch = bytes;
        crate::batch::assign_offset(&mut batch, offset);
        let Some(mut header) = BatchHeader::parse(&batch) else {
            return Err(crate::StorageError::InvalidRecord(
                "marker batch too short".into(),
            ));
        };
        header.base_offset = offset;
        self.maybe_roll(&mut inner, batch.len() as u64, offset, now_ms, &config)?;
        let seg = inner.active_mut();
        if let Err(e) = seg.write_parts(&[&batch]) {
            let err = self.ctx.failure.io_error(seg.log_path(), "write marker", e);
            tracing::warn!(tp = %self.topic_partition(), error = %err, "transaction marker write failed");
            return Err(err);
        }
        if seg.is_empty() {
            seg.created_ms = now_ms;
        }
        let pos = seg.size();
        seg.on_batch_appended(pos, &header, config.index_interval_bytes);
        if let (Some(first), false) = (first, marker.commit) {
            let entry = AbortedTxn {
                producer_id: marker.producer_id,
                first_offset: first,
                last_offset: offset,
                last_stable_offset: lso_before.unwrap_or(first),
            };
            let path = seg.txn_index().path().to_path_buf();
            seg.txn_index_mut().append(entry).map_err(|e| {
                self.ctx
                    .failure
                    .io_error(&path, "append transaction index", e)
            })?;
            self.has_aborted.store(true, Ordering::Release);
        }
        inner.producers.complete_txn(marker);
        inner.next_offset = offset + 1;
        self.refresh_first_unstable(&inner);
        self.set_log_end(offset + 1);
        tracing::debug!(
            tp = %self.topic_partition(), producer_id = marker.producer_id,
            epoch = marker.producer_epoch, commit = marker.commit, offset, "wrote transaction marker"
        );
        Ok(AppendInfo {
            base_offset: offset,
            last_offset: offset,
            log_append_time: -1,
            log_start_offset: inner.log_start,
            duplicate: false,
        })
    }

    /// The aborted transactions overlapping `[from, upper)`: those a reader of that range must
    /// drop (producer id, first offset).
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        if !self.has_aborted.load(Ordering::Acquire) {
            return out;
        }
        let inner = self.inner.lock();
        // An aborted transaction's entry is in the segment of its marker, at or after `from`.
        let floor = inner
            .segments
            .range(..=from)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(i64::MIN);
        for seg in inner.segments.range(floor..).map(|(_, s)| s) {
            if seg.base_offset >= upper {
                break;
            }
            seg.txn_index().collect_overlapping(from, upper, &mut out);
        }
        out
    }

    /// Every aborted transaction still in the log (for the cleaner).
    pub(crate) fn all_aborted_transactions(&self) -> Vec<AbortedTxn> {
        let inner = self.inner.lock();
        inner
            .segments
            .values()
            .flat_map(|s| s.txn_index().entries().iter().copied())
            .collect()
    }

    /// The state of every producer that has written to this log (DescribeProducers).
    pub fn producer_states(&self) -> Vec<ProducerStateEntry> {
        self.inner.lock().producers.entries()
    }
}
