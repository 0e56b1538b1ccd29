//! What compaction keeps of one batch, and re-encoding a partly kept batch.
//!
//! Rules (Kafka's, see `LogCleaner.shouldRetainRecord`):
//! - control batches (transaction markers) and transactional batches are kept as they are, for
//!   now: once transactions exist, aborted batches will be dropped here ([`BatchAction::Drop`]),
//!   and markers removed once no data of their transaction remains;
//! - the last batch of each producer id is kept whole, so the producer's sequence state can be
//!   rebuilt from the log and idempotent duplicate detection keeps working;
//! - a keyed record is dropped when the offset map holds a later offset for its key;
//! - a tombstone (null value) is dropped once it lies in the already-cleaned part of the log
//!   (below the first dirty offset) and its batch is older than `delete.retention.ms`;
//! - records without a key are kept (Kafka discards them; Oxbow does not lose data it accepted).
//!
//! Offsets never change. Kept records of a batch are written as one batch per run of contiguous
//! offsets, with the original compression codec, timestamps, headers, producer id, epoch and
//! sequences, so every written batch satisfies `recordCount == lastOffsetDelta + 1`.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::BytesMut;
use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions};

use crate::batch::{self, BatchHeader};
use crate::offset_map::{decode_batch, OffsetMap};
use crate::transaction_index::AbortedSet;

/// Inputs of the retention decision that are the same for every batch of a cleaning.
pub(crate) struct FilterContext<'a> {
    pub map: &'a OffsetMap,
    /// Producer id -> last offset of its last batch (those batches are kept whole).
    pub producer_last_batches: &'a HashMap<i64, i64>,
    /// Tombstones below this offset were already cleaned once and may expire.
    pub first_dirty: i64,
    /// Wall clock of this cleaning.
    pub now_ms: i64,
    pub delete_retention_ms: i64,
    /// Aborted transactions: their data is removed.
    pub aborted: &'a AbortedSet,
    /// Per producer, whether any data of its transaction since its last marker was kept in this
    /// cleaning: a marker goes (after `delete.retention.ms`) only when nothing of its
    /// transaction is left, so a replay of the log never sees transactional data without its end.
    pub txn_data_kept: &'a RefCell<HashMap<i64, bool>>,
}

pub(crate) enum BatchAction {
    Keep,
    Drop,
    Rewrite(Vec<u8>),
}

/// Per-cleaning counts.
#[derive(Debug, Default)]
pub(crate) struct FilterStats {
    pub records_read: u64,
    pub records_kept: u64,
    pub tombstones_dropped: u64,
    pub markers_dropped: u64,
    /// Earliest wall-clock time at which a kept tombstone may be removed.
    pub next_tombstone_expiry_ms: Option<i64>,
}

fn keep_whole(h: &BatchHeader, ctx: &FilterContext) -> bool {
    h.has_producer_id() && ctx.producer_last_batches.get(&h.producer_id) == Some(&h.last_offset())
}

/// Decides what to keep of the batch `bytes` (with header `h`).
pub(crate) fn filter_batch(
    bytes: &[u8],
    h: &BatchHeader,
    ctx: &FilterContext,
    stats: &mut FilterStats,
) -> BatchAction {
    stats.records_read += h.record_count.max(0) as u64;
    if h.is_control() {
        let data_kept = ctx
            .txn_data_kept
            .borrow_mut()
            .remove(&h.producer_id)
            .unwrap_or(false);
        let expired = h.base_offset < ctx.first_dirty
            && h.max_timestamp.saturating_add(ctx.delete_retention_ms) < ctx.now_ms;
        if expired && !data_kept {
            stats.markers_dropped += 1;
            return BatchAction::Drop;
        }
        stats.records_kept += h.record_count.max(0) as u64;
        return BatchAction::Keep;
    }
    if h.is_transactional() {
        if ctx.aborted.contains(h.producer_id, h.base_offset) {
            return BatchAction::Drop;
        }
        let action = filter_data_batch(bytes, h, ctx, stats);
        if !matches!(action, BatchAction::Drop) {
            ctx.txn_data_kept.borrow_mut().insert(h.producer_id, true);
        }
        return action;
    }
    filter_data_batch(bytes, h, ctx, stats)
}

fn filter_data_batch(
    bytes: &[u8],
    h: &BatchHeader,
    ctx: &FilterContext,
    stats: &mut FilterStats,
) -> BatchAction {
    if keep_whole(h, ctx) {
        stats.records_kept += h.record_count.max(0) as u64;
        return BatchAction::Keep;
    }
    let Some(set) = decode_batch(bytes, h) else {
        stats.records_kept += h.record_count.max(0) as u64;
        return BatchAction::Keep;
    };
    let tombstone_expiry = h.max_timestamp.saturating_add(ctx.delete_retention_ms);
    let mut kept: Vec<Record> = Vec::with_capacity(set.records.len());
    for r in set.records {
        let superseded = match &r.key {
            Some(k) => ctx.map.get(k).is_some_and(|latest| latest > r.offset),
            None => false,
        };
        if superseded {
            continue;
        }
        if r.key.is_some() && r.value.is_none() {
            if r.offset < ctx.first_dirty && tombstone_expiry < ctx.now_ms {
                stats.tombstones_dropped += 1;
                continue;
            }
            let expiry = tombstone_expiry.max(ctx.now_ms);
            stats.next_tombstone_expiry_ms = Some(
                stats
                    .next_tombstone_expiry_ms
                    .map_or(expiry, |e| e.min(expiry)),
            );
        }
        kept.push(r);
    }
    stats.records_kept += kept.len() as u64;
    if kept.is_empty() {
        return BatchAction::Drop;
    }
    if kept.len() as i64 == h.record_count as i64 {
        return BatchAction::Keep;
    }
    match encode_runs(&mut kept, h, set.compression) {
        Some(out) => BatchAction::Rewrite(out),
        None => BatchAction::Keep,
    }
}

/// Encodes `records` (in offset order) as one batch per run of contiguous offsets.
/// None (keep the original batch) if encoding fails or yields a batch Oxbow would not accept.
fn encode_runs(
    records: &mut [Record],
    h: &BatchHeader,
    compression: kafka_protocol::records::Compression,
) -> Option<Vec<u8>> {
    let mut out = BytesMut::new();
    let mut start = 0;
    while start < records.len() {
        let mut end = start + 1;
        while end < records.len() && records[end].offset == records[end - 1].offset + 1 {
            end += 1;
        }
        let run = &mut records[start..end];
        let first = run[0].offset;
        for r in run.iter_mut() {
            r.partition_leader_epoch = 0;
            if !h.has_producer_id() {
                // Keeps `offset - sequence` constant (one batch) with a base sequence of -1.
                r.sequence = (r.offset - first - 1) as i32;
            }
        }
        let from = out.len();
        let opts = RecordEncodeOptions {
            version: 2,
            compression,
        };
        if let Err(e) = RecordBatchEncoder::encode(&mut out, run.iter(), &opts) {
            tracing::warn!(base_offset = h.base_offset, error = %e, "cleaner: cannot re-encode batch, keeping it whole");
            return None;
        }
        if h.is_log_append_time() {
            batch::set_log_append_time(&mut out[from..], h.max_timestamp);
        }
        start = end;
    }
    let out = out.to_vec();
    if !well_formed(&out) {
        tracing::warn!(
            base_offset = h.base_offset,
            "cleaner: re-encoded batch failed validation, keeping it whole"
        );
        return None;
    }
    Some(out)
}

/// Checks that re-encoded output passes the same framing and CRC checks recovery applies.
fn well_formed(out: &[u8]) -> bool {
    batch::validate_records(out, u32::MAX).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kafka_protocol::records::{Compression, TimestampType};

    fn record(offset: i64, key: &str, value: Option<&str>) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1 + (offset as i32),
            timestamp: 1_000 + offset,
            key: Some(Bytes::from(key.to_string())),
            value: value.map(|v| Bytes::from(v.to_string())),
            headers: Default::default(),
        }
    }

    fn encode(records: &[Record], compression: Compression) -> Vec<u8> {
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn given_superseded_keys_when_filtered_should_rewrite_runs_with_original_offsets() {
        let recs: Vec<Record> = (0..6)
            .map(|i| record(10 + i, &format!("k{}", i % 3), Some("v")))
            .collect();
        let bytes = encode(&recs, Compression::Lz4);
        let h = BatchHeader::parse(&bytes).unwrap();
        let mut map = OffsetMap::new(1 << 20);
        for r in &recs {
            map.put(r.key.as_ref().unwrap(), r.offset);
        }
        map.put(b"k1", 100); // k1 superseded later in the log
        let pids = HashMap::new();
        let ctx = FilterContext {
            aborted: &AbortedSet::default(),
            txn_data_kept: &RefCell::default(),
            map: &map,
            producer_last_batches: &pids,
            first_dirty: 0,
            now_ms: 0,
            delete_retention_ms: 0,
        };
        let mut stats = FilterStats::default();
        let BatchAction::Rewrite(out) = filter_batch(&bytes, &h, &ctx, &mut stats) else {
            panic!("expected a rewrite");
        };
        let mut buf = Bytes::from(out);
        let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).unwrap();
        let kept: Vec<(i64, i64)> = sets
            .iter()
            .flat_map(|s| s.records.iter().map(|r| (r.offset, r.timestamp)))
            .collect();
        // k0 latest at 13, k2 latest at 15; k1 (11, 14) superseded.
        assert_eq!(kept, vec![(13, 1013), (15, 1015)]);
        assert!(sets.iter().all(|s| s.compression == Compression::Lz4));
        assert_eq!(stats.records_kept, 2);
    }

    #[test]
    fn given_old_tombstone_in_clean_part_when_filtered_should_drop_it() {
        let recs = vec![record(0, "a", None), record(1, "b", Some("v"))];
        let bytes = encode(&recs, Compression::None);
        let h = BatchHeader::parse(&bytes).unwrap();
        let map = OffsetMap::new(1 << 20);
        let pids = HashMap::new();
        let mut ctx = FilterContext {
            aborted: &AbortedSet::default(),
            txn_data_kept: &RefCell::default(),
            map: &map,
            producer_last_batches: &pids,
            first_dirty: 0,
            now_ms: 10_000,
            delete_retention_ms: 100,
        };
        let mut stats = FilterStats::default();
        assert!(matches!(
            filter_batch(&bytes, &h, &ctx, &mut stats),
            BatchAction::Keep
        ));
        assert!(stats.next_tombstone_expiry_ms.is_some());
        ctx.first_dirty = 2;
        let mut stats = FilterStats::default();
        assert!(matches!(
            filter_batch(&bytes, &h, &ctx, &mut stats),
            BatchAction::Rewrite(_)
        ));
        assert_eq!(stats.tombstones_dropped, 1);
    }

    #[test]
    fn given_last_batch_of_producer_when_filtered_should_keep_it_whole() {
        let mut recs = vec![record(5, "a", Some("v"))];
        recs[0].producer_id = 9;
        recs[0].producer_epoch = 0;
        recs[0].sequence = 0;
        let bytes = encode(&recs, Compression::None);
        let h = BatchHeader::parse(&bytes).unwrap();
        let mut map = OffsetMap::new(1 << 20);
        map.put(b"a", 50);
        let pids: HashMap<i64, i64> = [(9, 5)].into_iter().collect();
        let ctx = FilterContext {
            aborted: &AbortedSet::default(),
            txn_data_kept: &RefCell::default(),
            map: &map,
            producer_last_batches: &pids,
            first_dirty: 0,
            now_ms: 0,
            delete_retention_ms: 0,
        };
        assert!(matches!(
            filter_batch(&bytes, &h, &ctx, &mut FilterStats::default()),
            BatchAction::Keep
        ));
        let none = HashMap::new();
        let ctx = FilterContext {
            aborted: &AbortedSet::default(),
            txn_data_kept: &RefCell::default(),
            producer_last_batches: &none,
            ..ctx
        };
        assert!(matches!(
            filter_batch(&bytes, &h, &ctx, &mut FilterStats::default()),
            BatchAction::Drop
        ));
    }
}
