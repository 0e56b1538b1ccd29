//! Consumer lag, exact: in records, the high watermark minus the committed offset; in seconds,
//! now minus the timestamp of the first record the group has not committed (the record at the
//! committed offset, read from the log), zero when caught up. Timestamps are cached by
//! (topic, partition, offset): a committed offset that does not move is read once.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use oxbow_storage::PartitionLog;
use parking_lot::Mutex;

/// Entries kept before the cache is emptied (10,000 partitions × 1,000 groups would be more
/// than any scrape needs twice).
const MAX_CACHED: usize = 200_000;

#[derive(Default)]
pub struct LagTimestamps {
    cache: Mutex<HashMap<(String, i32, i64), i64>>,
}

impl LagTimestamps {
    /// The timestamp of the record at `offset` of `log` (None: not in the log any more).
    pub fn timestamp(
        &self,
        topic: &str,
        partition: i32,
        log: &dyn PartitionLog,
        offset: i64,
    ) -> Option<i64> {
        let key = (topic.to_string(), partition, offset);
        if let Some(ts) = self.cache.lock().get(&key) {
            return Some(*ts);
        }
        let ts = record_timestamp(log, offset)?;
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, ts);
        Some(ts)
    }
}

/// Reads the batch holding `offset` and returns the timestamp of the first record at or after it
/// (the next one when that record is gone, e.g. compacted away).
fn record_timestamp(log: &dyn PartitionLog, offset: i64) -> Option<i64> {
    let read = log.read(offset, 1 << 20, log.high_watermark(), true).ok()?;
    let mut buf: Bytes = read.records;
    let sets = RecordBatchDecoder::decode_all(&mut buf).ok()?;
    sets.iter()
        .flat_map(|s| &s.records)
        .find(|r| r.offset >= offset && !r.control)
        .map(|r| r.timestamp)
        .or_else(|| log.timestamp_at(offset).ok().flatten())
}

/// A group's lag on one partition at `now_ms`: records behind the high watermark, and the age in
/// seconds of the first record not committed (0 when caught up). `None`: no such partition.
pub fn partition_lag(
    broker: &crate::Broker,
    topic: &str,
    partition: i32,
    committed: i64,
    now_ms: i64,
) -> Option<(i64, f64)> {
    let p = broker.partition(topic, partition)?;
    let lag = (p.log.high_watermark() - committed).max(0);
    if lag == 0 {
        return Some((0, 0.0));
    }
    let from = committed.max(p.log.log_start_offset());
    let seconds = broker
        .metrics
        .lag
        .timestamp(topic, partition, &*p.log, from)
        .map(|ts| ((now_ms - ts).max(0) as f64) / 1000.0)
        .unwrap_or(0.0);
    Some((lag, seconds))
}
