//! Error injection: run with `cargo test -p oxbow-storage --features failpoints`.
#![cfg(feature = "failpoints")]
mod common;

use common::*;
use oxbow_storage::{LogConfig, StorageError};

#[test]
fn given_enospc_after_write_when_appending_should_truncate_and_accept_later_appends() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    log.append(&batch(2, 10, 1), 0).unwrap();
    let size = log.size_bytes();
    fail::cfg("oxbow-storage::segment-after-write", "return(enospc)").unwrap();
    assert!(matches!(
        log.append(&batch(2, 10, 1), 0),
        Err(StorageError::NoSpace { .. })
    ));
    fail::remove("oxbow-storage::segment-after-write");
    assert_eq!(
        std::fs::metadata(active_segment_path(&log)).unwrap().len(),
        size
    );
    assert!(!mgr.is_offline());
    assert_eq!(log.append(&batch(1, 10, 1), 0).unwrap().base_offset, 2);
    assert_eq!(read_all(&log, 0).len(), 3);
    scenario.teardown();
}

#[test]
fn given_eio_on_write_when_appending_should_take_dir_offline() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    log.append(&batch(1, 10, 1), 0).unwrap();
    fail::cfg("oxbow-storage::segment-before-write", "return(eio)").unwrap();
    assert!(matches!(
        log.append(&batch(1, 10, 1), 0),
        Err(StorageError::Io { .. })
    ));
    fail::remove("oxbow-storage::segment-before-write");
    assert!(mgr.is_offline());
    assert!(matches!(
        log.append(&batch(1, 10, 1), 0),
        Err(StorageError::LogDirOffline(_))
    ));
    assert!(matches!(
        log.read(0, 100, 1, true),
        Err(StorageError::LogDirOffline(_))
    ));
    let rx = mgr.flush(vec![(log.clone(), 1)]);
    assert!(matches!(
        rx.blocking_recv().unwrap(),
        Err(StorageError::LogDirOffline(_))
    ));
    scenario.teardown();
}

#[test]
fn given_fsync_failure_when_flushing_should_fail_waiters_and_go_offline() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    log.append(&batch(1, 10, 1), 0).unwrap();
    fail::cfg("oxbow-storage::flush", "return(eio)").unwrap();
    let rx = mgr.flush(vec![(log.clone(), 1)]);
    assert!(matches!(
        rx.blocking_recv().unwrap(),
        Err(StorageError::Io { .. })
    ));
    fail::remove("oxbow-storage::flush");
    assert!(mgr.is_offline());
    scenario.teardown();
}

#[test]
fn given_enospc_at_roll_when_appending_should_keep_log_usable() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    while log.size_bytes() < 1600 {
        log.append(&batch(1, 100, 1), 0).unwrap();
    }
    assert_eq!(log.segments().len(), 1);
    let end = log.log_end_offset();
    fail::cfg("oxbow-storage::roll", "return(enospc)").unwrap();
    assert!(matches!(
        log.append(&batch(1, 500, 1), 0),
        Err(StorageError::NoSpace { .. })
    ));
    fail::remove("oxbow-storage::roll");
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.append(&batch(1, 500, 1), 0).unwrap().base_offset, end);
    assert_eq!(log.segments().len(), 2);
    assert_eq!(read_all(&log, 0).len() as i64, end + 1);
    scenario.teardown();
}
