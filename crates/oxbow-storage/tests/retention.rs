mod common;

use common::*;
use oxbow_storage::{LogConfig, StorageError};

#[test]
fn given_segments_older_than_retention_ms_when_enforced_should_delete_them_and_advance_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 10_000,
        ..small_segments()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    for i in 0..30 {
        log.append(&batch(1, 200, 1_000 + i), 0).unwrap(); // old
    }
    for i in 0..10 {
        log.append(&batch(1, 200, 100_000 + i), 0).unwrap(); // recent
    }
    let before = log.segments();
    let deleted = mgr.enforce_retention(105_000);
    assert!(deleted > 0);
    let after = log.segments();
    assert_eq!(after.len(), before.len() - deleted);
    assert_eq!(log.log_start_offset(), after[0].base_offset);
    assert!(after
        .iter()
        .all(|s| s.max_timestamp >= 95_000 || s.base_offset == after.last().unwrap().base_offset));
    assert!(matches!(
        log.read(0, 100, 40, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&log, log.log_start_offset()).last().unwrap().0, 39);
}

#[test]
fn given_fully_expired_log_when_enforced_should_roll_and_delete_everything() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 1_000,
        ..LogConfig::default()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    for i in 0..5 {
        log.append(&batch(1, 20, i), 0).unwrap();
    }
    assert_eq!(mgr.enforce_retention(1_000_000), 1);
    assert_eq!(log.log_start_offset(), 5);
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(log.size_bytes(), 0);
    assert_eq!(log.append(&batch(1, 20, 1), 0).unwrap().base_offset, 5);
}

#[test]
fn given_log_over_retention_bytes_when_enforced_should_delete_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: 5_000,
        ..small_segments()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    for i in 0..100 {
        log.append(&batch(1, 200, i), 0).unwrap();
    }
    assert!(log.size_bytes() > 5_000);
    mgr.enforce_retention(0);
    let size = log.size_bytes();
    assert!(size <= 5_000 + 2048, "size {size}");
    let first = log.segments()[0].size_bytes;
    assert!(
        size - first < 5_000,
        "one more deletion would still be >= retention"
    );
    assert_eq!(log.log_start_offset(), log.segments()[0].base_offset);
}

#[test]
fn given_delete_records_when_applied_should_move_start_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    {
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config.clone()).unwrap();
        for i in 0..40 {
            log.append(&batch(1, 200, i), 0).unwrap();
        }
        let segs = log.segments().len();
        assert!(matches!(
            log.delete_records_before(41),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        assert_eq!(log.delete_records_before(25).unwrap(), 25);
        assert_eq!(log.delete_records_before(10).unwrap(), 25);
        assert!(log.segments().len() < segs);
        assert!(log.segments()[0].base_offset <= 25);
        assert!(matches!(
            log.read(24, 100, 40, true),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        assert_eq!(read_all(&log, 25).first().unwrap().0, 25);
        // crash: no shutdown, the checkpoint was persisted before answering
    }
    let mgr = open(dir.path(), &config);
    let log = mgr.get(&tp()).unwrap();
    assert_eq!(log.log_start_offset(), 25);
    assert_eq!(log.delete_records_before(40).unwrap(), 40);
    assert_eq!(log.segments().len(), 1);
    assert!(log.read(40, 100, 40, true).unwrap().records.is_empty());
}
