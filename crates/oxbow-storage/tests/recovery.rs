mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use common::*;
use oxbow_storage::{LogConfig, CLEAN_SHUTDOWN_FILE};

/// Writes `n` 1-record batches, then "crashes" (drops the manager without shutdown).
fn write_and_crash(dir: &Path, config: &LogConfig, n: usize) -> (std::path::PathBuf, Vec<u64>) {
    let mgr = open(dir, config);
    let log = mgr.create(&tp(), config.clone()).unwrap();
    let mut ends = Vec::new();
    for i in 0..n {
        log.append(&batch(1, 30, i as i64), 0).unwrap();
        ends.push(log.segments().last().unwrap().size_bytes);
    }
    (active_segment_path(&log), ends)
}

fn reopen_and_check(dir: &Path, config: &LogConfig, expect_end: i64) {
    let mgr = open(dir, config);
    let log = mgr.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), expect_end);
    let got: Vec<i64> = read_all(&log, 0).into_iter().map(|(o, _)| o).collect();
    assert_eq!(got, (0..expect_end).collect::<Vec<_>>());
    // The log accepts appends at the recovered end, and they read back.
    let info = log.append(&batch(1, 30, 99), 0).unwrap();
    assert_eq!(info.base_offset, expect_end);
    assert_eq!(read_all(&log, expect_end).len(), 1);
    // Index rebuilt: every offset reads its own batch.
    for o in 0..=expect_end {
        let r = log.read(o, 1, log.high_watermark(), true).unwrap();
        assert_eq!(decode(&r.records)[0].0, o);
    }
}

fn config() -> LogConfig {
    LogConfig {
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

#[test]
fn given_batch_cut_in_the_middle_when_recovered_should_truncate_to_last_good_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, ends) = write_and_crash(dir.path(), &config(), 10);
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(ends[8] + 20).unwrap();
    reopen_and_check(dir.path(), &config(), 9);
    assert_eq!(
        fs::metadata(&seg).unwrap().len(),
        ends[8] + batch(1, 30, 99).len() as u64
    );
}

#[test]
fn given_partial_header_tail_when_recovered_should_truncate() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, ends) = write_and_crash(dir.path(), &config(), 10);
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(ends[8] + 5).unwrap();
    reopen_and_check(dir.path(), &config(), 9);
}

#[test]
fn given_garbage_appended_when_recovered_should_drop_it() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = write_and_crash(dir.path(), &config(), 10);
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[0xAB; 300]).unwrap();
    reopen_and_check(dir.path(), &config(), 10);
}

#[test]
fn given_corrupt_crc_in_last_batch_when_recovered_should_drop_it() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, ends) = write_and_crash(dir.path(), &config(), 10);
    let mut bytes = fs::read(&seg).unwrap();
    let at = ends[8] as usize + 70;
    bytes[at] ^= 0xFF;
    fs::write(&seg, &bytes).unwrap();
    reopen_and_check(dir.path(), &config(), 9);
}

#[test]
fn given_empty_segment_file_when_recovered_should_open_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = write_and_crash(dir.path(), &config(), 3);
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(0)
        .unwrap();
    reopen_and_check(dir.path(), &config(), 0);
}

#[test]
fn given_torn_older_segment_when_recovered_should_delete_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let first_seg;
    {
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config.clone()).unwrap();
        for i in 0..40 {
            log.append(&batch(1, 100, i), 0).unwrap();
        }
        assert!(log.segments().len() >= 3);
        first_seg = log.dir().join(format!("{:020}.log", 0));
        // No flush: recovery starts from the first segment.
    }
    let len = fs::metadata(&first_seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&first_seg)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let mgr = open(dir.path(), &config);
    let log = mgr.get(&tp()).unwrap();
    assert_eq!(log.segments().len(), 1);
    let end = log.log_end_offset();
    assert!(end > 0 && end < 40);
    assert_eq!(read_all(&log, 0).len() as i64, end);
}

#[test]
fn given_clean_shutdown_marker_when_opened_should_trust_segments_without_crc_scan() {
    let dir = tempfile::tempdir().unwrap();
    let seg;
    let ends;
    {
        let mgr = open(dir.path(), &config());
        let log = mgr.create(&tp(), config()).unwrap();
        let mut e = Vec::new();
        for i in 0..5 {
            log.append(&batch(1, 30, i), 0).unwrap();
            e.push(log.size_bytes());
        }
        seg = active_segment_path(&log);
        ends = e;
        mgr.shutdown().unwrap();
    }
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    // Corrupt a payload byte of the middle batch: framing intact, CRC wrong.
    let mut bytes = fs::read(&seg).unwrap();
    bytes[ends[1] as usize + 70] ^= 0xFF;
    fs::write(&seg, &bytes).unwrap();
    {
        let mgr = open(dir.path(), &config());
        assert!(
            !dir.path().join(CLEAN_SHUTDOWN_FILE).exists(),
            "marker removed at open"
        );
        assert_eq!(
            mgr.get(&tp()).unwrap().log_end_offset(),
            5,
            "clean open must not scan CRCs"
        );
    }
    // Now a crash (no marker): the full scan truncates at the corrupt batch.
    let mgr = open(dir.path(), &config());
    assert_eq!(mgr.get(&tp()).unwrap().log_end_offset(), 2);
}

#[test]
fn given_insane_index_after_clean_shutdown_when_opened_should_rebuild_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mgr = open(dir.path(), &config());
        let log = mgr.create(&tp(), config()).unwrap();
        for i in 0..20 {
            log.append(&batch(1, 30, i), 0).unwrap();
        }
        mgr.shutdown().unwrap();
    }
    let index = partition_dir(dir.path()).join(format!("{:020}.index", 0));
    fs::write(
        &index,
        [0u8, 0, 0, 9, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
    )
    .unwrap();
    let mgr = open(dir.path(), &config());
    let log = mgr.get(&tp()).unwrap();
    for o in 0..20 {
        assert_eq!(decode(&log.read(o, 1, 20, true).unwrap().records)[0].0, o);
    }
}

#[test]
fn given_leftover_files_and_dirs_when_opened_should_clean_them_up() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mgr = open(dir.path(), &config());
        let log = mgr.create(&tp(), config()).unwrap();
        log.append(&batch(1, 30, 1), 0).unwrap();
        mgr.create(&oxbow_storage::TopicPartition::new("gone", 0), config())
            .unwrap();
        mgr.shutdown().unwrap();
    }
    let pdir = partition_dir(dir.path());
    for name in [
        "00000000000000000000.log.deleted",
        "00000000000000000005.log.cleaned",
        "x.swap",
        "00000000000000000099.index",
    ] {
        fs::write(pdir.join(name), b"junk").unwrap();
    }
    fs::create_dir(dir.path().join("orders-1.abc-delete")).unwrap();
    fs::create_dir(dir.path().join("meta")).unwrap();
    let mgr = LogManager::open(opts(dir.path()), &|t| (t == "orders").then(config)).unwrap();
    assert_eq!(mgr.logs().len(), 1);
    assert_eq!(mgr.get(&tp()).unwrap().log_end_offset(), 1);
    let mut names: Vec<String> = fs::read_dir(&pdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(
        names.iter().all(|n| !n.contains("deleted")
            && !n.contains("cleaned")
            && !n.contains("swap")
            && !n.contains("99")),
        "{names:?}"
    );
    assert!(!dir.path().join("orders-1.abc-delete").exists());
    assert!(!dir.path().join("gone-0").exists());
    assert!(dir.path().join("meta").exists());
}

use oxbow_storage::LogManager;

#[test]
fn given_deleted_log_when_used_should_fail_and_files_be_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path(), &config());
    let log = mgr.create(&tp(), config()).unwrap();
    log.append(&batch(1, 30, 1), 0).unwrap();
    mgr.delete(&tp()).unwrap();
    assert!(mgr.get(&tp()).is_none());
    assert!(!partition_dir(dir.path()).exists());
    assert!(matches!(
        log.append(&batch(1, 30, 1), 0),
        Err(oxbow_storage::StorageError::LogDeleted(_))
    ));
    let again = mgr.create(&tp(), config()).unwrap();
    assert_eq!(again.log_end_offset(), 0);
}

#[test]
fn given_recovery_point_checkpoint_when_crashed_should_scan_only_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let (first_seg, active, active_len);
    {
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config.clone()).unwrap();
        for i in 0..40 {
            log.append(&batch(1, 100, i), 0).unwrap();
        }
        assert!(log.segments().len() >= 3);
        // Rolled segments were fsynced at roll: the checkpointed recovery point is the active base.
        mgr.maintenance(1);
        assert_eq!(
            log.recovery_point(),
            log.segments().last().unwrap().base_offset
        );
        first_seg = log.dir().join(format!("{:020}.log", 0));
        active = active_segment_path(&log);
        active_len = log.segments().last().unwrap().size_bytes;
    }
    // A flipped payload byte below the recovery point is not looked at...
    let mut bytes = fs::read(&first_seg).unwrap();
    bytes[80] ^= 0xFF;
    fs::write(&first_seg, &bytes).unwrap();
    // ...while the torn tail of the active segment is repaired.
    OpenOptions::new()
        .write(true)
        .open(&active)
        .unwrap()
        .set_len(active_len - 7)
        .unwrap();
    let mgr = open(dir.path(), &config);
    let log = mgr.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 39);
    assert_eq!(
        log.read(0, 1, 39, true).unwrap().records.len(),
        batch(1, 100, 0).len()
    );
}
