//! The partition side of transactions: last stable offset, markers, the aborted-transaction index,
//! recovery of open transactions after a crash or clean restart, and the cleaner's handling of
//! aborted data.

mod common;

use common::compaction::keyed;
use common::*;
use oxbow_storage::{AbortedTxn, LogConfig, StorageError, TxnMarker, UnifiedLog};

fn marker(pid: i64, epoch: i16, commit: bool) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: epoch,
        commit,
        coordinator_epoch: 0,
    }
}

/// Values a read_committed reader keeps: records below the LSO, not control, not aborted.
fn read_committed(log: &UnifiedLog) -> Vec<String> {
    let lso = log.last_stable_offset();
    let aborted = log.aborted_transactions(0, lso);
    let mut out = Vec::new();
    let mut next = 0;
    while next < lso {
        let r = log.read(next, 1 << 20, lso, true).unwrap();
        let mut buf = r.records.clone();
        let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).unwrap();
        if sets.is_empty() {
            break;
        }
        for rec in sets.into_iter().flat_map(|s| s.records) {
            if rec.offset < next || rec.offset >= lso {
                continue;
            }
            next = rec.offset + 1;
            if rec.control {
                continue;
            }
            let dropped = rec.transactional
                && aborted.iter().any(|a| {
                    a.producer_id == rec.producer_id
                        && a.first_offset <= rec.offset
                        && rec.offset <= a.last_offset
                });
            if !dropped {
                out.push(String::from_utf8(rec.value.unwrap().to_vec()).unwrap());
            }
        }
    }
    out
}

#[test]
fn given_interleaved_transactions_when_ended_should_move_lso_and_index_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    log.append(&txn_batch(1, 0, 0, 3, "a"), 0).unwrap(); // 0..=2
    log.append(&txn_batch(2, 0, 0, 2, "b"), 0).unwrap(); // 3..=4
    log.append(&batch(1, 3, 0), 0).unwrap(); // 5, plain
    assert_eq!(log.last_stable_offset(), 0);
    assert_eq!(log.read(0, 1 << 20, 0, true).unwrap().last_stable_offset, 0);
    assert!(read_committed(&log).is_empty());
    log.write_txn_marker(&marker(2, 0, false), 0).unwrap(); // 6: abort b
    assert_eq!(log.last_stable_offset(), 0, "a is still open");
    log.write_txn_marker(&marker(1, 0, true), 0).unwrap(); // 7: commit a
    assert_eq!(log.last_stable_offset(), 8);
    assert_eq!(
        log.aborted_transactions(0, 8),
        vec![AbortedTxn {
            producer_id: 2,
            first_offset: 3,
            last_offset: 6,
            last_stable_offset: 0
        }]
    );
    assert!(log.aborted_transactions(7, 8).is_empty());
    assert_eq!(read_committed(&log), vec!["a-0", "a-1", "a-2", "xxx"]);
    // The producer's sequence continues across transactions (same epoch).
    log.append(&txn_batch(1, 0, 3, 1, "c"), 0).unwrap();
    assert_eq!(log.last_stable_offset(), 8);
}

#[test]
fn given_non_transactional_write_during_open_transaction_should_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    log.append(&txn_batch(1, 0, 0, 1, "a"), 0).unwrap();
    assert!(matches!(
        log.append(&idempotent_batch(1, 0, 1, 1), 0),
        Err(StorageError::InvalidTxnState(_))
    ));
    // A marker of an older epoch is fenced.
    log.write_txn_marker(&marker(1, 1, false), 0).unwrap();
    assert!(matches!(
        log.write_txn_marker(&marker(1, 0, true), 0),
        Err(StorageError::InvalidProducerEpoch { .. })
    ));
    // Control batches from a client are refused.
    let forged = marker(9, 0, true).encode(0);
    assert!(matches!(
        log.append(&forged, 0),
        Err(StorageError::InvalidRecord(_))
    ));
}

#[test]
fn given_crash_with_open_and_aborted_transactions_when_reopened_should_rebuild_lso_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    {
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config.clone()).unwrap();
        for round in 0..20 {
            log.append(&txn_batch(1, 0, round * 4, 4, &format!("r{round}")), 0)
                .unwrap();
            log.write_txn_marker(&marker(1, 0, round % 2 == 0), 0)
                .unwrap();
        }
        log.append(&txn_batch(2, 0, 0, 2, "open"), 0).unwrap();
        assert!(log.segments().len() > 1, "the test spans segments");
        // dropped without shutdown: a crash
    }
    for clean in [false, true] {
        let mgr = open(dir.path(), &config);
        let log = mgr.get(&tp()).unwrap();
        let open_at = log.log_end_offset() - 2;
        assert_eq!(log.last_stable_offset(), open_at, "clean={clean}");
        let aborted = log.aborted_transactions(0, open_at);
        assert_eq!(aborted.len(), 10, "clean={clean}: {aborted:?}");
        let committed = read_committed(&log);
        assert_eq!(committed.len(), 40);
        assert!(committed.iter().all(|v| {
            let round: i32 = v[1..v.find('-').unwrap()].parse().unwrap();
            round % 2 == 0
        }));
        if clean {
            break;
        }
        mgr.shutdown().unwrap();
    }
}

#[test]
fn given_aborted_keyed_data_when_compacted_should_drop_it_and_keep_committed_values() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        cleanup_policy: oxbow_storage::CleanupPolicy::COMPACT,
        ..small_segments()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config.clone()).unwrap();
    let spec = |seq| common::BatchSpec {
        producer_id: 5,
        producer_epoch: 0,
        base_sequence: seq,
        transactional: true,
        ..Default::default()
    };
    let rec = |k: &str, v: &str| (k.to_string(), Some(v.to_string()));
    log.append(&keyed(&spec(0), &[rec("k", "committed")], 1000), 0)
        .unwrap();
    log.write_txn_marker(&marker(5, 0, true), 0).unwrap();
    log.append(&keyed(&spec(1), &[rec("k", "aborted")], 1000), 0)
        .unwrap();
    log.write_txn_marker(&marker(5, 0, false), 0).unwrap();
    for i in 0..40 {
        log.append(&keyed(&plain(), &[rec(&format!("x{i}"), "pad")], 1000), 0)
            .unwrap();
    }
    log.roll().unwrap();
    assert!(mgr
        .clean_dirtiest(&common::compaction::unthrottled(), 10_000)
        .unwrap());
    let all = read_all(&log, 0);
    let values: Vec<String> = all
        .iter()
        .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        .collect();
    assert!(values.contains(&"committed".to_string()), "{values:?}");
    assert!(!values.contains(&"aborted".to_string()), "{values:?}");
    assert_eq!(
        read_committed(&log)
            .iter()
            .filter(|v| *v == "committed")
            .count(),
        1
    );
    assert_eq!(
        control_batches(&log),
        2,
        "markers stay until delete.retention.ms"
    );

    // Past delete.retention.ms a second cleaning (the markers are now in the cleaned section)
    // removes the abort marker, whose data is gone, and keeps the commit marker, whose data stays.
    log.update_config(LogConfig {
        delete_retention_ms: 0,
        min_cleanable_dirty_ratio: 0.01,
        ..config
    });
    for i in 0..40 {
        log.append(&keyed(&plain(), &[rec(&format!("y{i}"), "pad")], 1000), 0)
            .unwrap();
    }
    log.roll().unwrap();
    assert!(mgr
        .clean_dirtiest(&common::compaction::unthrottled(), 1_000_000)
        .unwrap());
    assert_eq!(control_batches(&log), 1, "only the commit marker is left");
    assert_eq!(
        read_committed(&log)
            .iter()
            .filter(|v| *v == "committed")
            .count(),
        1
    );
    drop(log);
    mgr.shutdown().unwrap();
    // A replay of the whole log (no snapshot) finds no transaction left open.
    for f in std::fs::read_dir(partition_dir(dir.path())).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let mgr = open(dir.path(), &config_for_reopen());
    let log = mgr.get(&tp()).unwrap();
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
}

fn config_for_reopen() -> LogConfig {
    LogConfig {
        cleanup_policy: oxbow_storage::CleanupPolicy::COMPACT,
        ..small_segments()
    }
}

fn control_batches(log: &UnifiedLog) -> usize {
    let mut count = 0;
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, log.log_end_offset(), true).unwrap();
        let mut buf = r.records.clone();
        let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).unwrap();
        if sets.is_empty() {
            break;
        }
        for rec in sets.into_iter().flat_map(|s| s.records) {
            if rec.offset < next {
                continue;
            }
            next = rec.offset + 1;
            count += usize::from(rec.control);
        }
    }
    count
}

use common::compaction::plain;
