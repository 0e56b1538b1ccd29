//! Crash safety of the cleaner's swap: `cargo test -p oxbow-storage --features failpoints`.
//! Each failpoint makes the cleaning fail at one step (the directory goes offline, as after a
//! crash nothing more is written); the log is then reopened without a clean shutdown.
#![cfg(feature = "failpoints")]
mod common;

use std::collections::BTreeMap;

use common::compaction::*;
use common::*;

const STEPS: [&str; 4] = [
    "oxbow-storage::cleaner-write",
    "oxbow-storage::cleaner-swap-file",
    "oxbow-storage::cleaner-source-deleted",
    "oxbow-storage::cleaner-rename",
];

/// Every key's latest record must be present, at its offset, and offsets must strictly increase.
fn assert_valid(
    after: &[(i64, String, Option<String>)],
    expected: &BTreeMap<String, (i64, Option<String>)>,
    step: &str,
) {
    assert_increasing(after);
    let present: BTreeMap<i64, (&String, &Option<String>)> =
        after.iter().map(|(o, k, v)| (*o, (k, v))).collect();
    for (k, (o, v)) in expected {
        assert_eq!(
            present.get(o),
            Some(&(k, v)),
            "{step}: latest record of {k} at {o} lost"
        );
    }
}

fn crash_at(step: &str) {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config();
    let expected = {
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config.clone()).unwrap();
        let written = fill(&log, &plain(), 1_500, 40, 10, 1_000);
        log.roll().unwrap();
        fail::cfg(step, "return").unwrap();
        assert!(
            mgr.clean_dirtiest(&unthrottled(), 5_000).is_err(),
            "{step} did not fire"
        );
        fail::remove(step);
        assert!(
            mgr.is_offline(),
            "{step}: an I/O error takes the directory offline"
        );
        latest_per_key(&written)
        // dropped without shutdown: a crash
    };
    let leftovers: Vec<String> = std::fs::read_dir(partition_dir(dir.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned") || n.ends_with(".deleted"))
        .collect();
    let mgr = open(dir.path(), &config);
    let log = mgr.get(&tp()).unwrap();
    let after = read_kv(&log);
    assert_valid(&after, &expected, step);
    // Reopening again (clean) and finishing the cleaning gives exactly one record per key.
    mgr.shutdown().unwrap();
    drop(mgr);
    let mgr = open(dir.path(), &config);
    let log = mgr.get(&tp()).unwrap();
    assert_valid(&read_kv(&log), &expected, step);
    while mgr.clean_dirtiest(&unthrottled(), 5_000).unwrap() {}
    let last = read_kv(&log);
    assert_eq!(
        last.len(),
        expected.len(),
        "{step} (leftovers after crash: {leftovers:?})"
    );
    assert_valid(&last, &expected, step);
    scenario.teardown();
}

#[test]
fn given_crash_after_writing_cleaned_file_when_reopened_should_keep_old_segments() {
    crash_at(STEPS[0]);
}

#[test]
fn given_crash_after_swap_file_committed_when_reopened_should_complete_the_swap() {
    crash_at(STEPS[1]);
}

#[test]
fn given_crash_while_deleting_sources_when_reopened_should_complete_the_swap() {
    crash_at(STEPS[2]);
}

#[test]
fn given_crash_before_indexes_written_when_reopened_should_rebuild_them() {
    crash_at(STEPS[3]);
}

#[test]
fn given_crash_after_swap_committed_when_reopened_should_hold_no_superseded_source() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let config = compact_config();
    {
        let mgr = open(dir.path(), &config);
        let log = mgr.create(&tp(), config.clone()).unwrap();
        fill(&log, &plain(), 1_500, 40, 10, 1_000);
        log.roll().unwrap();
        fail::cfg(STEPS[1], "return").unwrap();
        assert!(mgr.clean_dirtiest(&unthrottled(), 5_000).is_err());
        fail::remove(STEPS[1]);
    }
    let mgr = open(dir.path(), &config);
    let log = mgr.get(&tp()).unwrap();
    let segs = log.segments();
    for w in segs.windows(2) {
        assert!(w[0].base_offset < w[1].base_offset);
    }
    let files: Vec<String> = std::fs::read_dir(partition_dir(dir.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files
            .iter()
            .all(|n| !n.ends_with(".swap") && !n.ends_with(".cleaned")),
        "{files:?}"
    );
    scenario.teardown();
}
