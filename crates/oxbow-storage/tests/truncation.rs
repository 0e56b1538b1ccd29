//! Truncating a log's tail (`truncate_to`) in the cases that matter; random truncations against
//! a model of the log run in `opfuzz.rs`.

mod common;

use common::*;
use oxbow_storage::LogConfig;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1500,
        index_interval_bytes: 200,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

#[test]
fn given_offset_inside_a_batch_when_truncating_should_drop_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &config());
    let log = mgr.create(&tp(), config()).unwrap();
    log.append(&batch(3, 10, 1), 1).unwrap(); // 0..=2
    log.append(&batch(3, 10, 2), 2).unwrap(); // 3..=5
    assert_eq!(log.truncate_to(4).unwrap(), 3);
    assert_eq!(
        log.truncate_to(10).unwrap(),
        3,
        "past the end changes nothing"
    );
    assert_eq!(log.append(&batch(1, 10, 3), 3).unwrap().base_offset, 3);
    assert!(log.delete_records_before(2).is_ok());
    assert!(
        log.truncate_to(1).is_err(),
        "below the log start is refused"
    );
    // 2 lies in the batch 0..=2, which holds the log start: cutting there would end the log
    // below its start.
    assert!(
        log.truncate_to(2).is_err(),
        "inside the batch holding the log start is refused"
    );
    assert_eq!(
        log.log_end_offset(),
        4,
        "a refused truncation changes nothing"
    );
}

#[test]
fn given_segments_after_the_target_when_truncating_should_delete_them_and_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &config());
    let log = mgr.create(&tp(), config()).unwrap();
    for i in 0..40 {
        log.append(&batch(2, 40, i), i).unwrap();
    }
    let before = log.segments().len();
    assert!(before > 3, "small segments: {before}");
    assert_eq!(log.truncate_to(11).unwrap(), 10);
    assert!(log.segments().len() < before);
    assert_eq!(log.append(&batch(1, 40, 99), 99).unwrap().base_offset, 10);
    drop(log);
    drop(mgr);
    let mgr = open(dir.path(), &config());
    let log = mgr.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 11);
    let got: Vec<i64> = read_all(&log, 0).into_iter().map(|(o, _)| o).collect();
    assert_eq!(got, (0..11).collect::<Vec<_>>());
}

#[test]
fn given_idempotent_batch_truncated_away_when_resent_should_be_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &config());
    let log = mgr.create(&tp(), config()).unwrap();
    log.append(&idempotent_batch(7, 0, 0, 2), 1).unwrap(); // seq 0-1 at 0..=1
    let second = idempotent_batch(7, 0, 2, 2);
    assert_eq!(log.append(&second, 1).unwrap().base_offset, 2); // seq 2-3 at 2..=3
    assert_eq!(log.truncate_to(2).unwrap(), 2);
    // The producer's state no longer knows seq 2-3: the resend is new data, not a duplicate.
    let again = log.append(&second, 2).unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.base_offset, 2);
    // ...and survives a crash with the same producer state.
    drop(log);
    drop(mgr);
    let mgr = open(dir.path(), &config());
    let log = mgr.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    assert!(log.append(&second, 3).unwrap().duplicate);
}
