//! Log compaction: what the cleaner keeps, drops and preserves.
mod common;

use std::time::{Duration, Instant};

use common::compaction::*;
use common::*;
use kafka_protocol::records::Compression;
use oxbow_storage::{CleanupPolicy, LogConfig, TimestampType};

const NOW: i64 = 5_000;

#[test]
fn given_repeated_keys_when_cleaned_should_keep_latest_per_key_at_original_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config();
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    let written = fill(&log, &plain(), 2_000, 50, 10, 1_000);
    log.roll().unwrap();
    let end = log.log_end_offset();
    let segments_before = log.segments().len();
    assert!(mgr.clean_dirtiest(&unthrottled(), NOW).unwrap());
    let after = read_kv(&log);
    assert_increasing(&after);
    let expected = latest_per_key(&written);
    assert_eq!(after.len(), expected.len());
    for (o, k, v) in &after {
        assert_eq!(expected.get(k), Some(&(*o, v.clone())), "key {k}");
    }
    assert_eq!(log.log_end_offset(), end);
    assert!(log.segments().len() < segments_before);
    let m = log.cleaner_metrics();
    assert!(m.bytes_read > 0 && m.bytes_written > 0 && m.last_clean_ms > 0);
    assert_eq!(m.dirty_ratio, 0.0);
    assert!(
        !mgr.clean_dirtiest(&unthrottled(), NOW).unwrap(),
        "nothing left to clean"
    );
}

#[test]
fn given_active_segment_when_cleaned_should_never_touch_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config();
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    let written = fill(&log, &plain(), 600, 5, 10, 1_000);
    let active_base = log.segments().last().unwrap().base_offset;
    mgr.clean_dirtiest(&unthrottled(), NOW).unwrap();
    let after = read_kv(&log);
    let active: Vec<_> = written
        .iter()
        .filter(|(o, _, _)| *o >= active_base)
        .cloned()
        .collect();
    assert!(
        after.ends_with(&active),
        "active segment records must all remain"
    );
}

#[test]
fn given_tombstones_when_delete_retention_passes_should_remove_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config();
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    fill(&log, &plain(), 200, 20, 10, 1_000);
    let tombstones: Vec<(String, Option<String>)> =
        (0..10).map(|k| (format!("key{k}"), None)).collect();
    log.append(&keyed(&plain(), &tombstones, 1_000), 1_000)
        .unwrap();
    log.roll().unwrap();
    assert!(mgr.clean_dirtiest(&unthrottled(), NOW).unwrap());
    let first = read_kv(&log);
    assert_eq!(first.len(), 20, "10 tombstones + 10 live keys");
    assert_eq!(first.iter().filter(|(_, _, v)| v.is_none()).count(), 10);
    // Before delete.retention.ms (10 s after the batch) nothing more happens.
    assert!(!mgr.clean_dirtiest(&unthrottled(), 9_000).unwrap());
    assert!(mgr.clean_dirtiest(&unthrottled(), 11_001).unwrap());
    let second = read_kv(&log);
    assert_eq!(second.len(), 10);
    assert!(second
        .iter()
        .all(|(_, k, v)| v.is_some() && k.as_str() >= "key10"));
}

#[test]
fn given_policies_when_retention_enforced_should_delete_only_with_delete_policy() {
    for (policy, expect_deleted) in [
        (CleanupPolicy::COMPACT, false),
        (CleanupPolicy::COMPACT_DELETE, true),
        (CleanupPolicy::DELETE, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            retention_ms: 1_000,
            cleanup_policy: policy,
            ..compact_config()
        };
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config).unwrap();
        fill(&log, &plain(), 300, 300, 10, 1_000);
        let deleted = mgr.enforce_retention(1_000_000);
        assert_eq!(deleted > 0, expect_deleted, "{policy:?}");
    }
}

#[test]
fn given_delete_policy_when_cleaner_runs_should_leave_log_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::DELETE,
        ..compact_config()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config.clone()).unwrap();
    fill(&log, &plain(), 500, 5, 10, 1_000);
    log.roll().unwrap();
    assert!(!mgr.clean_dirtiest(&unthrottled(), NOW).unwrap());
    // Switching the policy at runtime makes it eligible.
    log.update_config(LogConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        ..config
    });
    assert!(mgr.clean_dirtiest(&unthrottled(), NOW).unwrap());
    assert_eq!(read_kv(&log).len(), 5);
}

#[test]
fn given_min_compaction_lag_when_segments_are_recent_should_not_clean_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        min_compaction_lag_ms: 60_000,
        ..compact_config()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    fill(&log, &plain(), 500, 5, 10, 1_000);
    log.roll().unwrap();
    assert!(!mgr.clean_dirtiest(&unthrottled(), 30_000).unwrap());
    assert!(mgr.clean_dirtiest(&unthrottled(), 100_000).unwrap());
    assert_eq!(read_kv(&log).len(), 5);
}

#[test]
fn given_compressed_and_log_append_time_batches_when_rewritten_should_keep_codec_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..compact_config()
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    let spec = BatchSpec {
        compression: Compression::Zstd,
        ..BatchSpec::default()
    };
    fill(&log, &spec, 400, 7, 20, 1_000);
    log.roll().unwrap();
    assert!(mgr.clean_dirtiest(&unthrottled(), NOW).unwrap());
    let r = log
        .read(log.log_start_offset(), 1 << 20, log.high_watermark(), true)
        .unwrap();
    let mut buf = r.records.clone();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).unwrap();
    assert!(sets.iter().all(|s| s.compression == Compression::Zstd));
    let recs: Vec<_> = sets.iter().flat_map(|s| s.records.iter()).collect();
    assert_eq!(recs.len(), 7);
    assert!(recs
        .iter()
        .all(|r| r.timestamp_type == kafka_protocol::records::TimestampType::LogAppend));
}

#[test]
fn given_cleaned_log_when_cleaned_again_should_merge_small_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config();
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    let mut written = Vec::new();
    for round in 0..4 {
        written.extend(fill(&log, &plain(), 400, 10, 10, 1_000 + round));
        log.roll().unwrap();
        mgr.clean_dirtiest(&unthrottled(), NOW).unwrap();
    }
    let after = read_kv(&log);
    assert_eq!(after.len(), 10);
    let expected = latest_per_key(&written);
    assert!(after
        .iter()
        .all(|(o, k, v)| expected.get(k) == Some(&(*o, v.clone()))));
    assert!(log.segments().len() <= 3, "segments: {:?}", log.segments());
}

#[test]
fn given_cleaned_log_when_reopened_after_crash_should_keep_content_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config();
    let (expected, first_dirty) = {
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config.clone()).unwrap();
        fill(&log, &plain(), 1_000, 30, 10, 1_000);
        log.roll().unwrap();
        mgr.clean_dirtiest(&unthrottled(), NOW).unwrap();
        (read_kv(&log), log.cleaner_first_dirty_offset())
    };
    let mgr = open(dir.path(), &config);
    let log = mgr.get(&tp()).unwrap();
    assert_eq!(read_kv(&log), expected);
    assert_eq!(log.cleaner_first_dirty_offset(), first_dirty);
    assert!(!mgr.clean_dirtiest(&unthrottled(), NOW).unwrap());
}

#[test]
fn given_idempotent_producer_when_cleaned_should_keep_its_state_across_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config();
    let spec = |seq| BatchSpec {
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: seq,
        ..BatchSpec::default()
    };
    let last = {
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config.clone()).unwrap();
        for i in 0..50 {
            log.append(&keyed(&spec(i * 4), &kv_range(0, 4, 2), 1_000), 1_000)
                .unwrap();
        }
        log.roll().unwrap();
        mgr.clean_dirtiest(&unthrottled(), NOW).unwrap();
        read_kv(&log)
    };
    // Keys are superseded within the last batch, which is kept whole.
    assert_eq!(last.len(), 4);
    for snap in std::fs::read_dir(partition_dir(dir.path())).unwrap() {
        let p = snap.unwrap().path();
        if p.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(p).unwrap(); // force a replay over the cleaned segments
        }
    }
    let mgr = open(dir.path(), &config);
    let log = mgr.get(&tp()).unwrap();
    let dup = log
        .append(&keyed(&spec(196), &kv_range(0, 4, 2), 1_000), 1_000)
        .unwrap();
    assert!(dup.duplicate, "retry of the last batch is recognised");
    let next = log
        .append(&keyed(&spec(200), &kv_range(0, 4, 2), 1_000), 1_000)
        .unwrap();
    assert!(!next.duplicate);
}

#[test]
fn given_cleaner_thread_when_log_is_dirty_should_compact_in_background_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config();
    let mgr = open(dir.path(), &config);
    let log = mgr.create(&tp(), config).unwrap();
    fill(&log, &plain(), 1_000, 10, 10, 1_000);
    log.roll().unwrap();
    mgr.start_cleaner(unthrottled()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_kv(&log).len() != 10 {
        assert!(Instant::now() < deadline, "cleaner did not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    mgr.shutdown().unwrap();
}
