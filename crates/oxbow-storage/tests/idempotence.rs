mod common;

use common::*;
use oxbow_storage::{LogConfig, StorageError};

#[test]
fn given_retried_batch_when_appended_should_return_original_offsets_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    log.append(&batch(2, 5, 1), 0).unwrap();
    let first = log.append(&idempotent_batch(7, 0, 0, 3), 0).unwrap();
    let second = log.append(&idempotent_batch(7, 0, 3, 2), 0).unwrap();
    let size = log.size_bytes();
    let dup = log.append(&idempotent_batch(7, 0, 0, 3), 0).unwrap();
    assert!(dup.duplicate);
    assert_eq!(
        (dup.base_offset, dup.last_offset),
        (first.base_offset, first.last_offset)
    );
    let dup2 = log.append(&idempotent_batch(7, 0, 3, 2), 0).unwrap();
    assert_eq!(
        (dup2.base_offset, dup2.last_offset),
        (second.base_offset, second.last_offset)
    );
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.log_end_offset(), 7);
}

#[test]
fn given_sequence_gap_when_appended_should_be_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    assert!(matches!(
        log.append(&idempotent_batch(1, 0, 5, 1), 0),
        Err(StorageError::OutOfOrderSequence { expected: 0, .. })
    ));
    log.append(&idempotent_batch(1, 0, 0, 2), 0).unwrap();
    let err = log.append(&idempotent_batch(1, 0, 3, 1), 0).unwrap_err();
    assert!(matches!(
        err,
        StorageError::OutOfOrderSequence {
            producer_id: 1,
            expected: 2,
            found: 3
        }
    ));
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn given_older_epoch_when_appended_should_be_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    log.append(&idempotent_batch(1, 3, 0, 1), 0).unwrap();
    assert!(matches!(
        log.append(&idempotent_batch(1, 2, 1, 1), 0),
        Err(StorageError::InvalidProducerEpoch {
            epoch: 2,
            current: 3,
            ..
        })
    ));
    assert!(matches!(
        log.append(&idempotent_batch(1, 4, 1, 1), 0),
        Err(StorageError::OutOfOrderSequence { .. })
    ));
    log.append(&idempotent_batch(1, 4, 0, 1), 0).unwrap();
}

fn producer_reopen(crash: bool) {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    {
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config.clone()).unwrap();
        for seq in 0..20 {
            log.append(&idempotent_batch(9, 2, seq * 2, 2), 0).unwrap();
            log.append(&batch(1, 200, 1), 0).unwrap();
        }
        assert!(log.segments().len() > 1);
        if !crash {
            mgr.shutdown().unwrap();
        }
    }
    let mgr = open(dir.path(), &config);
    let log = mgr.get(&tp()).unwrap();
    let dup = log.append(&idempotent_batch(9, 2, 38, 2), 0).unwrap();
    assert!(
        dup.duplicate,
        "last batch should be recognised after reopen"
    );
    assert_eq!(dup.base_offset, 57);
    assert!(matches!(
        log.append(&idempotent_batch(9, 2, 41, 1), 0),
        Err(StorageError::OutOfOrderSequence { expected: 40, .. })
    ));
    assert!(matches!(
        log.append(&idempotent_batch(9, 1, 40, 1), 0),
        Err(StorageError::InvalidProducerEpoch { .. })
    ));
    assert!(
        !log.append(&idempotent_batch(9, 2, 40, 1), 0)
            .unwrap()
            .duplicate
    );
}

#[test]
fn given_clean_shutdown_when_reopened_should_keep_producer_state() {
    producer_reopen(false);
}

#[test]
fn given_crash_when_reopened_should_rebuild_producer_state() {
    producer_reopen(true);
}
