//! Random operations (appends, rolls, reopenings, DeleteRecords, truncations, reads) against a
//! simple in-memory model of a partition log.
mod common;

use std::sync::Arc;

use common::*;
use kafka_protocol::records::Compression;
use oxbow_storage::{LogConfig, LogManager, StorageError, UnifiedLog};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: usize,
        size: usize,
        compressed: bool,
    },
    Roll,
    Reopen {
        clean: bool,
    },
    DeleteRecords {
        permille: u32,
    },
    Read {
        permille: u32,
        max_bytes: usize,
    },
    Truncate {
        permille: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..5, 1usize..300, any::<bool>()).prop_map(|(records, size, compressed)| Op::Append { records, size, compressed }),
        1 => Just(Op::Roll),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => (0u32..=1000).prop_map(|permille| Op::DeleteRecords { permille }),
        1 => (0u32..=1000).prop_map(|permille| Op::Truncate { permille }),
        3 => (0u32..=1000, 1usize..2000).prop_map(|(permille, max_bytes)| Op::Read { permille, max_bytes }),
    ]
}

struct Model {
    values: Vec<Vec<u8>>, // by offset
    log_start: i64,
    /// Base offsets of the stored batches (truncation cuts at batch boundaries).
    batch_starts: Vec<i64>,
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 100,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn pick(model: &Model, permille: u32) -> i64 {
    let span = model.values.len() as i64 - model.log_start;
    model.log_start + span * permille as i64 / 1000
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut mgr: Arc<LogManager> = open(dir.path(), &config());
    let mut log: Arc<UnifiedLog> = mgr.create(&tp(), config()).unwrap();
    let mut model = Model {
        values: Vec::new(),
        log_start: 0,
        batch_starts: Vec::new(),
    };
    let mut counter = 0u64;
    for op in ops {
        match op {
            Op::Append {
                records,
                size,
                compressed,
            } => {
                let vals: Vec<Vec<u8>> = (0..records)
                    .map(|_| {
                        counter += 1;
                        let mut v = format!("{counter}:").into_bytes();
                        v.resize(size.max(v.len()), b'z');
                        v
                    })
                    .collect();
                let refs: Vec<(&[u8], i64)> = vals
                    .iter()
                    .map(|v| (v.as_slice(), counter as i64))
                    .collect();
                let spec = BatchSpec {
                    compression: if compressed {
                        Compression::Lz4
                    } else {
                        Compression::None
                    },
                    ..Default::default()
                };
                let info = log.append(&batch_with(&spec, &refs), 0).unwrap();
                assert_eq!(info.base_offset, model.values.len() as i64);
                model.batch_starts.push(info.base_offset);
                model.values.extend(vals);
            }
            Op::Roll => log.roll().unwrap(),
            Op::Reopen { clean } => {
                if clean {
                    mgr.shutdown().unwrap();
                }
                drop(log);
                drop(mgr);
                mgr = open(dir.path(), &config());
                log = mgr.get(&tp()).unwrap();
            }
            Op::DeleteRecords { permille } => {
                let target = pick(&model, permille);
                assert_eq!(
                    log.delete_records_before(target).unwrap(),
                    target.max(model.log_start)
                );
                model.log_start = target.max(model.log_start);
            }
            Op::Truncate { permille } => {
                let target = pick(&model, permille);
                let end = model.values.len() as i64;
                let holding = model
                    .batch_starts
                    .iter()
                    .rev()
                    .find(|b| **b <= target)
                    .copied();
                match (target < end, holding) {
                    (true, Some(base)) if base < model.log_start => assert!(matches!(
                        log.truncate_to(target),
                        Err(StorageError::OffsetOutOfRange { .. })
                    )),
                    (true, Some(base)) => {
                        assert_eq!(log.truncate_to(target).unwrap(), base);
                        model.values.truncate(base as usize);
                        model.batch_starts.retain(|b| *b < base);
                    }
                    _ => assert_eq!(log.truncate_to(target).unwrap(), end),
                }
            }
            Op::Read {
                permille,
                max_bytes,
            } => {
                let at = pick(&model, permille);
                let r = log.read(at, max_bytes, log.high_watermark(), true).unwrap();
                let got = decode(&r.records);
                if at < model.values.len() as i64 {
                    assert!(!got.is_empty(), "min_one read at {at} returned nothing");
                    assert!(got[0].0 <= at);
                }
                for (o, v) in got {
                    assert_eq!(&v, &model.values[o as usize], "value at offset {o}");
                }
                if model.log_start > 0 {
                    let below =
                        log.read(model.log_start - 1, max_bytes, log.high_watermark(), true);
                    assert!(matches!(below, Err(StorageError::OffsetOutOfRange { .. })));
                }
            }
        }
        assert_eq!(log.log_end_offset(), model.values.len() as i64);
        assert_eq!(log.log_start_offset(), model.log_start);
    }
    let all = read_all(&log, model.log_start);
    let first = all.first().map(|(o, _)| *o).unwrap_or(model.log_start);
    assert!(first <= model.log_start || all.is_empty());
    for (o, v) in all {
        assert_eq!(&v, &model.values[o as usize]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn given_random_operations_when_applied_should_match_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
