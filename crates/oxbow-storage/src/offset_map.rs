//! The key -> latest offset map of one cleaning (Kafka's OffsetMap), built over the dirty part of
//! a log. Kafka stores 16-byte hashes of the keys; Oxbow stores the keys themselves so that two
//! different keys can never be mistaken for one another (a hash collision would drop a live
//! record). Memory is bounded by a byte budget: the map is built segment by segment and stops at a
//! segment boundary once the budget is used, so the cleaning covers only the mapped segments.

use std::collections::HashMap;
use std::io;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::batch::BatchHeader;
use crate::cleaner_io::{for_each_batch, Throttler};
use crate::cleaner_state::SegmentRef;
use crate::transaction_index::AbortedSet;

/// Approximate bytes a map entry costs besides its key (hash table slot, box header, offset).
const ENTRY_OVERHEAD: usize = 48;

#[derive(Debug)]
pub(crate) struct OffsetMap {
    map: HashMap<Box<[u8]>, i64>,
    bytes: usize,
    budget: usize,
}

impl OffsetMap {
    pub fn new(budget: usize) -> Self {
        Self {
            map: HashMap::new(),
            bytes: 0,
            budget,
        }
    }

    /// Records `offset` as the latest offset of `key` (offsets arrive in increasing order).
    pub fn put(&mut self, key: &[u8], offset: i64) {
        match self.map.get_mut(key) {
            Some(o) => *o = (*o).max(offset),
            None => {
                self.bytes += key.len() + ENTRY_OVERHEAD;
                self.map.insert(key.into(), offset);
            }
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_full(&self) -> bool {
        self.bytes >= self.budget
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Decodes the records of one batch; None (with a warning) if the batch cannot be decoded.
pub(crate) fn decode_batch(
    bytes: &[u8],
    h: &BatchHeader,
) -> Option<kafka_protocol::records::RecordSet> {
    let mut buf = Bytes::copy_from_slice(bytes);
    match RecordBatchDecoder::decode(&mut buf) {
        Ok(set) => Some(set),
        Err(e) => {
            tracing::warn!(base_offset = h.base_offset, error = %e, "cleaner: cannot decode batch, keeping it as is");
            None
        }
    }
}

/// Whether a batch's keys may supersede older records. Control batches carry markers, not data;
/// transactional batches are kept out until the cleaner knows which transactions committed
/// (an aborted record must never hide a committed one).
/// Whether a batch's keys count: not a marker, and not data of an aborted transaction (the
/// cleaner never reaches open transactions: it stops before the first unstable offset).
pub(crate) fn maps_keys(h: &BatchHeader, aborted: &AbortedSet) -> bool {
    !h.is_control() && !(h.is_transactional() && aborted.contains(h.producer_id, h.base_offset))
}

/// Builds the map over `dirty` segments (in offset order), stopping at a segment boundary once the
/// map is full (the first segment is always mapped, so every cleaning makes progress).
/// Returns the map, the offset up to which it is complete (the next dirty segment's base, or
/// `end` if every segment was mapped), and the bytes read.
pub(crate) fn build_offset_map(
    dirty: &[SegmentRef],
    end: i64,
    budget: usize,
    aborted: &AbortedSet,
    throttler: &mut Throttler,
) -> io::Result<(OffsetMap, i64, u64)> {
    let mut map = OffsetMap::new(budget);
    let mut read = 0u64;
    for (i, seg) in dirty.iter().enumerate() {
        if i > 0 && map.is_full() {
            tracing::info!(
                path = %seg.path.display(), keys = map.len(), map_bytes = map.bytes(),
                "cleaner: offset map full, cleaning up to this segment"
            );
            return Ok((map, seg.base_offset, read));
        }
        for_each_batch(&seg.path, seg.size, throttler, |_, h, bytes| {
            read += bytes.len() as u64;
            if !maps_keys(h, aborted) {
                return Ok(0);
            }
            if let Some(set) = decode_batch(bytes, h) {
                for r in &set.records {
                    if let Some(key) = &r.key {
                        map.put(key, r.offset);
                    }
                }
            }
            Ok(0)
        })?;
    }
    Ok((map, end, read))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_repeated_key_when_put_should_keep_latest_offset_and_count_once() {
        let mut m = OffsetMap::new(1 << 20);
        m.put(b"a", 1);
        m.put(b"a", 7);
        m.put(b"b", 3);
        assert_eq!(m.get(b"a"), Some(7));
        assert_eq!(m.get(b"b"), Some(3));
        assert_eq!(m.get(b"c"), None);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn given_small_budget_when_filled_should_report_full() {
        let mut m = OffsetMap::new(100);
        m.put(b"k1", 0);
        assert!(!m.is_full());
        m.put(b"k2", 1);
        assert!(m.is_full());
    }
}
