mod common;

use common::*;
use kafka_protocol::records::Compression;
use oxbow_storage::{LogConfig, OffsetAndTimestamp};

fn fill(
    compression: Compression,
) -> (
    tempfile::TempDir,
    std::sync::Arc<oxbow_storage::UnifiedLog>,
    std::sync::Arc<oxbow_storage::LogManager>,
) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 64,
        ..small_segments()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    let spec = BatchSpec {
        compression,
        ..BatchSpec::default()
    };
    // 20 batches of 5 records; record i has timestamp 1000 + 10 * i, except a late outlier.
    for b in 0..20i64 {
        let values: Vec<(&[u8], i64)> = (0..5i64)
            .map(|r| {
                let i = b * 5 + r;
                let ts = if i == 57 { 50_000 } else { 1000 + 10 * i };
                (b"payload-payload-payload".as_slice(), ts)
            })
            .collect();
        log.append(&batch_with(&spec, &values), 0).unwrap();
    }
    (dir, log, mgr)
}

fn check(compression: Compression) {
    let (_dir, log, _mgr) = fill(compression);
    assert!(log.segments().len() > 1, "exercise several segments");
    assert_eq!(
        log.offset_for_timestamp(0).unwrap(),
        Some(OffsetAndTimestamp {
            offset: 0,
            timestamp: 1000
        })
    );
    assert_eq!(
        log.offset_for_timestamp(1000).unwrap(),
        Some(OffsetAndTimestamp {
            offset: 0,
            timestamp: 1000
        })
    );
    assert_eq!(
        log.offset_for_timestamp(1001).unwrap(),
        Some(OffsetAndTimestamp {
            offset: 1,
            timestamp: 1010
        })
    );
    assert_eq!(
        log.offset_for_timestamp(1333).unwrap(),
        Some(OffsetAndTimestamp {
            offset: 34,
            timestamp: 1340
        })
    );
    assert_eq!(
        log.offset_for_timestamp(1575).unwrap(),
        Some(OffsetAndTimestamp {
            offset: 57,
            timestamp: 50_000
        })
    );
    assert_eq!(
        log.offset_for_timestamp(1985).unwrap(),
        Some(OffsetAndTimestamp {
            offset: 57,
            timestamp: 50_000
        })
    );
    assert_eq!(log.offset_for_timestamp(50_001).unwrap(), None);
    assert_eq!(
        log.max_timestamp().unwrap(),
        Some(OffsetAndTimestamp {
            offset: 57,
            timestamp: 50_000
        })
    );
    assert_eq!(log.timestamp_at(42).unwrap(), Some(1420));
    assert_eq!(log.timestamp_at(57).unwrap(), Some(50_000));
    assert_eq!(log.timestamp_at(100).unwrap(), None);
}

#[test]
fn given_uncompressed_batches_when_searching_by_timestamp_should_find_exact_record() {
    check(Compression::None);
}

#[test]
fn given_gzip_batches_when_searching_by_timestamp_should_find_exact_record() {
    check(Compression::Gzip);
}

#[test]
fn given_snappy_batches_when_searching_by_timestamp_should_find_exact_record() {
    check(Compression::Snappy);
}

#[test]
fn given_lz4_batches_when_searching_by_timestamp_should_find_exact_record() {
    check(Compression::Lz4);
}

#[test]
fn given_zstd_batches_when_searching_by_timestamp_should_find_exact_record() {
    check(Compression::Zstd);
}

#[test]
fn given_clean_reopen_when_searching_by_timestamp_should_use_persisted_time_index() {
    let (dir, log, mgr) = fill(Compression::Lz4);
    drop(log);
    mgr.shutdown().unwrap();
    drop(mgr);
    let mgr = open(dir.path(), &small_segments());
    let log = mgr.get(&tp()).unwrap();
    assert_eq!(
        log.max_timestamp().unwrap(),
        Some(OffsetAndTimestamp {
            offset: 57,
            timestamp: 50_000
        })
    );
    assert_eq!(
        log.offset_for_timestamp(1333).unwrap(),
        Some(OffsetAndTimestamp {
            offset: 34,
            timestamp: 1340
        })
    );
}

#[test]
fn given_empty_log_when_searching_by_timestamp_should_find_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &LogConfig::default());
    let log = mgr.create(&tp(), LogConfig::default()).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), None);
    assert_eq!(log.timestamp_at(0).unwrap(), None);
}
