//! Helpers for the compaction tests: keyed batches (with tombstones) and reading back key/value pairs.
#![allow(dead_code)]

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use oxbow_storage::{CleanerOptions, CleanupPolicy, LogConfig, UnifiedLog};

use super::BatchSpec;

/// One batch of keyed records; a `None` value is a tombstone.
pub fn keyed(spec: &BatchSpec, records: &[(String, Option<String>)], ts: i64) -> Vec<u8> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: spec.transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: spec.producer_id,
            producer_epoch: spec.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: spec.base_sequence.wrapping_add(i as i32),
            timestamp: ts,
            key: Some(Bytes::from(k.clone())),
            value: v.clone().map(Bytes::from),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: spec.compression,
        },
    )
    .unwrap();
    buf.to_vec()
}

/// `n` records `key{j % keys}` = `v{j}` for j in `from..from+n`.
pub fn kv_range(from: usize, n: usize, keys: usize) -> Vec<(String, Option<String>)> {
    (from..from + n)
        .map(|j| (format!("key{}", j % keys), Some(format!("v{j}"))))
        .collect()
}

/// (offset, key, value) of every record from the log start, batch by batch.
pub fn read_kv(log: &UnifiedLog) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, log.high_watermark(), true).unwrap();
        if r.records.is_empty() {
            break;
        }
        let mut buf = r.records.clone();
        let sets = RecordBatchDecoder::decode_all(&mut buf).unwrap();
        let mut progressed = false;
        for rec in sets.into_iter().flat_map(|s| s.records) {
            if rec.offset < next {
                continue;
            }
            next = rec.offset + 1;
            progressed = true;
            let k = rec
                .key
                .map(|k| String::from_utf8_lossy(&k).into_owned())
                .unwrap_or_default();
            let v = rec.value.map(|v| String::from_utf8_lossy(&v).into_owned());
            out.push((rec.offset, k, v));
        }
        assert!(progressed, "no progress reading at {next}");
    }
    out
}

/// Latest (offset, value) per key of a list of records.
pub fn latest_per_key(
    records: &[(i64, String, Option<String>)],
) -> BTreeMap<String, (i64, Option<String>)> {
    let mut m = BTreeMap::new();
    for (o, k, v) in records {
        m.insert(k.clone(), (*o, v.clone()));
    }
    m
}

/// Asserts offsets strictly increase (no duplicate ranges) and returns them.
pub fn assert_increasing(records: &[(i64, String, Option<String>)]) {
    for w in records.windows(2) {
        assert!(
            w[0].0 < w[1].0,
            "offsets not increasing: {} then {}",
            w[0].0,
            w[1].0
        );
    }
}

pub fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        retention_ms: -1,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.01,
        delete_retention_ms: 10_000,
        ..LogConfig::default()
    }
}

pub fn unthrottled() -> CleanerOptions {
    CleanerOptions {
        io_max_bytes_per_second: 0,
        backoff_ms: 10,
        ..CleanerOptions::default()
    }
}

pub fn plain() -> BatchSpec {
    BatchSpec {
        compression: Compression::None,
        ..BatchSpec::default()
    }
}

/// Appends `n` records over `keys` keys in batches of `per_batch`, stamped `ts`; returns all written.
pub fn fill(
    log: &UnifiedLog,
    spec: &BatchSpec,
    n: usize,
    keys: usize,
    per_batch: usize,
    ts: i64,
) -> Vec<(i64, String, Option<String>)> {
    let mut written = Vec::new();
    let mut j = 0;
    while j < n {
        let recs = kv_range(j, per_batch.min(n - j), keys);
        let info = log.append(&keyed(spec, &recs, ts), ts).unwrap();
        for (i, (k, v)) in recs.into_iter().enumerate() {
            written.push((info.base_offset + i as i64, k, v));
        }
        j += per_batch;
    }
    written
}
