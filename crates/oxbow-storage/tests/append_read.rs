mod common;

use common::*;
use oxbow_storage::batch::{self, BatchHeader};
use oxbow_storage::{LogConfig, StorageError, TimestampType};

#[test]
fn given_many_appends_when_segments_roll_should_read_everything_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &small_segments());
    let log = mgr.create(&tp(), small_segments()).unwrap();
    let mut expected = Vec::new();
    for i in 0..60 {
        let n = 1 + i % 4;
        let info = log.append(&batch(n, 100, 1000 + i as i64), 5000).unwrap();
        assert_eq!(info.last_offset - info.base_offset + 1, n as i64);
        assert!(!info.duplicate);
        for o in info.base_offset..=info.last_offset {
            expected.push(o);
        }
    }
    assert!(
        log.segments().len() > 3,
        "expected several rolls, got {:?}",
        log.segments()
    );
    let got: Vec<i64> = read_all(&log, 0).into_iter().map(|(o, _)| o).collect();
    assert_eq!(got, expected);
    assert_eq!(log.log_end_offset(), *expected.last().unwrap() + 1);
    assert_eq!(mgr.total_size_bytes(), log.size_bytes());
}

#[test]
fn given_sparse_index_when_reading_from_any_offset_should_return_batch_containing_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 128,
        ..small_segments()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    for i in 0..50 {
        log.append(&batch(3, 40, i), 0).unwrap();
    }
    for offset in 0..log.log_end_offset() {
        let r = log.read(offset, 1, log.high_watermark(), true).unwrap();
        let h = BatchHeader::parse(&r.records).unwrap();
        assert!(
            h.base_offset <= offset && offset <= h.last_offset(),
            "offset {offset} got batch {h:?}"
        );
        assert_eq!(
            r.records.len(),
            h.size(),
            "min_one should give exactly one batch"
        );
    }
}

#[test]
fn given_reads_when_bounds_apply_should_respect_max_bytes_upper_bound_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    for _ in 0..5 {
        log.append(&batch(2, 50, 1), 0).unwrap();
    }
    let one = batch(2, 50, 1).len();
    let r = log.read(0, one * 2 + 10, 10, false).unwrap();
    assert_eq!(r.records.len(), one * 2);
    assert_eq!(r.high_watermark, 10);
    assert!(log.read(0, 10, 10, false).unwrap().records.is_empty());
    assert_eq!(
        decode(&log.read(0, 1 << 20, 4, true).unwrap().records).len(),
        4
    );
    assert!(log.read(10, 100, 10, true).unwrap().records.is_empty());
    assert!(matches!(
        log.read(11, 100, 10, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 100, 10, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn given_several_batches_in_one_request_when_appended_should_assign_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    let mut req = batch(2, 10, 1);
    req.extend(batch(3, 10, 2));
    let info = log.append(&req, 0).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (0, 4));
    let r = log.read(0, 1 << 20, 5, true).unwrap();
    assert_eq!(
        decode(&r.records)
            .iter()
            .map(|(o, _)| *o)
            .collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    let second = BatchHeader::parse(&r.records[batch(2, 10, 1).len()..]).unwrap();
    assert_eq!(second.base_offset, 2);
    assert_eq!(second.partition_leader_epoch, 0);
}

#[test]
fn given_bad_crc_when_appended_should_be_corrupt_record() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    let mut b = batch(1, 10, 1);
    let last = b.len() - 1;
    b[last] ^= 0xff;
    assert!(matches!(
        log.append(&b, 0),
        Err(StorageError::CorruptRecord(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn given_magic_not_two_when_appended_should_be_invalid_record() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    let mut b = batch(1, 10, 1);
    b[16] = 1;
    assert!(matches!(
        log.append(&b, 0),
        Err(StorageError::InvalidRecord(_))
    ));
}

#[test]
fn given_inconsistent_framing_when_appended_should_be_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    let b = batch(1, 10, 1);
    assert!(matches!(
        log.append(&b[..b.len() - 3], 0),
        Err(StorageError::CorruptRecord(_))
    ));
    let mut two = b.clone();
    two.extend_from_slice(&b[..20]);
    assert!(matches!(
        log.append(&two, 0),
        Err(StorageError::CorruptRecord(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn given_batch_over_max_message_bytes_when_appended_should_be_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 200,
        ..LogConfig::default()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    assert!(matches!(
        log.append(&batch(1, 500, 1), 0),
        Err(StorageError::MessageTooLarge { max: 200, .. })
    ));
    assert!(log.append(&batch(1, 10, 1), 0).is_ok());
}

#[test]
fn given_log_append_time_when_appended_should_stamp_time_and_keep_crc_valid() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    let info = log.append(&batch(3, 10, 5), 777_000).unwrap();
    assert_eq!(info.log_append_time, 777_000);
    let r = log.read(0, 1 << 20, 3, true).unwrap();
    let h = BatchHeader::parse(&r.records).unwrap();
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, 777_000);
    assert!(batch::crc_matches(&r.records));
    assert_eq!(log.timestamp_at(1).unwrap(), Some(777_000));
}

#[test]
fn given_create_time_when_appended_should_store_bytes_except_offset_and_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    log.append(&batch(1, 10, 5), 0).unwrap();
    let sent = batch(2, 10, 5);
    log.append(&sent, 0).unwrap();
    let r = log.read(1, 1 << 20, 3, true).unwrap();
    assert_eq!(&r.records[..8], &1i64.to_be_bytes());
    assert_eq!(&r.records[16..], &sent[16..]);
    assert_eq!(log.timestamp_at(2).unwrap(), Some(5));
}
