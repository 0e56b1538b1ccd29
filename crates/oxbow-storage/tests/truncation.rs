//! Truncating a log's tail (`truncate_to`): checked against a model of the batches, with random
//! appends, truncations and reopenings (clean and after a crash) under a printed seed, and for an
//! idempotent producer whose last batch was cut away.

mod common;

use common::*;
use oxbow_storage::LogConfig;

/// A tiny deterministic generator (xorshift), so a failing seed reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1500,
        index_interval_bytes: 200,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

/// The model: every stored batch as (base offset, record count).
fn model_end(batches: &[(i64, i64)]) -> i64 {
    batches.last().map_or(0, |(b, n)| b + n)
}

fn run(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed | 1);
    let mut mgr = open(dir.path(), &config());
    let mut log = mgr.create(&tp(), config()).unwrap();
    let mut batches: Vec<(i64, i64)> = Vec::new();
    for step in 0..300 {
        match rng.below(10) {
            0 | 1 if model_end(&batches) > 0 => {
                let target = rng.below(model_end(&batches) as u64 + 1) as i64;
                let end = log.truncate_to(target).unwrap();
                batches.retain(|(b, n)| b + n - 1 < target);
                assert_eq!(
                    end,
                    model_end(&batches),
                    "seed {seed} step {step}: truncate to {target}"
                );
            }
            2 => {
                if rng.below(2) == 0 {
                    mgr.shutdown().unwrap();
                }
                drop(log);
                drop(mgr);
                mgr = open(dir.path(), &config());
                log = mgr.get(&tp()).unwrap();
            }
            _ => {
                let n = 1 + rng.below(5) as i64;
                let info = log.append(&batch(n as usize, 40, step), step).unwrap();
                assert_eq!(
                    info.base_offset,
                    model_end(&batches),
                    "seed {seed} step {step}: append"
                );
                batches.push((info.base_offset, n));
            }
        }
        assert_eq!(
            log.log_end_offset(),
            model_end(&batches),
            "seed {seed} step {step}"
        );
    }
    let got: Vec<i64> = read_all(&log, 0).into_iter().map(|(o, _)| o).collect();
    assert_eq!(
        got,
        (0..model_end(&batches)).collect::<Vec<_>>(),
        "seed {seed}: final read"
    );
    // Every offset still finds its batch through the rebuilt indexes.
    for (base, n) in &batches {
        let r = log
            .read(base + n - 1, 1, log.high_watermark(), true)
            .unwrap();
        assert_eq!(decode(&r.records)[0].0, *base, "seed {seed}: index lookup");
    }
}

#[test]
fn given_random_appends_truncations_and_restarts_when_checked_against_a_model_should_agree() {
    let base = std::env::var("OXBOW_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0001_u64);
    for i in 0..12 {
        let seed = base.wrapping_add(i * 7919);
        eprintln!("truncation model seed {seed}");
        run(seed);
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
