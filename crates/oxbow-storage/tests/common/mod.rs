//! Shared test helpers: building v2 record batches with kafka_protocol's encoder, opening managers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use oxbow_storage::{LogConfig, LogManager, LogManagerOptions, TopicPartition, UnifiedLog};

pub mod compaction;

pub struct BatchSpec {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub compression: Compression,
    pub transactional: bool,
}

impl Default for BatchSpec {
    fn default() -> Self {
        Self {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            compression: Compression::None,
            transactional: false,
        }
    }
}

/// One v2 batch holding `values` with the given timestamps (base offset 0, as a producer sends it).
pub fn batch_with(spec: &BatchSpec, values: &[(&[u8], i64)]) -> Vec<u8> {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, (v, ts))| Record {
            transactional: spec.transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: spec.producer_id,
            producer_epoch: spec.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch when offset - sequence changes: keep it constant.
            sequence: spec.base_sequence.wrapping_add(i as i32),
            timestamp: *ts,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::copy_from_slice(v)),
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

/// A plain batch of `n` records, each `value_size` bytes, all stamped `ts`.
pub fn batch(n: usize, value_size: usize, ts: i64) -> Vec<u8> {
    let v = vec![b'x'; value_size];
    let values: Vec<(&[u8], i64)> = (0..n).map(|_| (v.as_slice(), ts)).collect();
    batch_with(&BatchSpec::default(), &values)
}

/// An idempotent producer's batch of `n` records starting at sequence `seq`.
pub fn idempotent_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    let spec = BatchSpec {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        compression: Compression::None,
        transactional: false,
    };
    let values: Vec<(&[u8], i64)> = (0..n).map(|_| (b"v".as_slice(), 1000)).collect();
    batch_with(&spec, &values)
}

/// A transactional producer's batch of `n` records with values `{tag}-{i}`.
pub fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize, tag: &str) -> Vec<u8> {
    let spec = BatchSpec {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        compression: Compression::None,
        transactional: true,
    };
    let values: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
    let values: Vec<(&[u8], i64)> = values.iter().map(|v| (v.as_bytes(), 1000)).collect();
    batch_with(&spec, &values)
}

/// Decodes every record of a read: (offset, value).
pub fn decode(records: &Bytes) -> Vec<(i64, Vec<u8>)> {
    let mut buf = records.clone();
    RecordBatchDecoder::decode_all(&mut buf)
        .unwrap()
        .into_iter()
        .flat_map(|set| set.records)
        .map(|r| (r.offset, r.value.map(|v| v.to_vec()).unwrap_or_default()))
        .collect()
}

pub fn opts(dir: &Path) -> LogManagerOptions {
    LogManagerOptions {
        dir: dir.to_path_buf(),
        checkpoint_interval_ms: 0,
    }
}

pub fn open(dir: &Path, config: &LogConfig) -> Arc<LogManager> {
    let c = config.clone();
    LogManager::open(opts(dir), &move |_| Some(c.clone())).unwrap()
}

pub fn tp() -> TopicPartition {
    TopicPartition::new("orders", 0)
}

pub fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

pub fn partition_dir(dir: &Path) -> PathBuf {
    dir.join("orders-0")
}

pub fn active_segment_path(log: &UnifiedLog) -> PathBuf {
    let base = log.segments().last().unwrap().base_offset;
    log.dir().join(format!("{base:020}.log"))
}

/// Reads every record from `from` to the end, batch by batch.
pub fn read_all(log: &UnifiedLog, from: i64) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = from;
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, log.high_watermark(), true).unwrap();
        let recs: Vec<_> = decode(&r.records)
            .into_iter()
            .filter(|(o, _)| *o >= next)
            .collect();
        assert!(!recs.is_empty(), "no progress reading at {next}");
        next = recs.last().unwrap().0 + 1;
        out.extend(recs);
    }
    out
}
