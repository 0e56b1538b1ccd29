//! Lag that diagnoses itself, by Burrow's rules: per group and partition the broker keeps a window
//! of the group's recent commits (offset, when, the lag then), sampled from the committed offsets
//! (a commit is recorded when its commit time changes), and evaluates each partition:
//! OK (caught up at some point in the window, or moving and catching up), WARN (committing but
//! the lag grows over the window), STALL (committing the same offset while behind), STOP (no
//! commit for longer than the window spans while behind), REWIND (the offset moved backwards).
//! A group's status is its worst partition's, with STALL, STOP and REWIND reported as ERR, plus
//! the partition with the most lag. [`api`] serves it as Burrow's HTTP API v3.

pub mod api;

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use crate::Broker;

/// Burrow's `intervals`: commits kept per partition.
pub const INTERVALS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Commit {
    pub offset: i64,
    /// When it was committed (ms).
    pub timestamp: i64,
    /// The partition's high watermark minus the offset when it was observed.
    pub lag: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PartitionStatus {
    Ok,
    Warn,
    Stall,
    Stop,
    Rewind,
}

impl PartitionStatus {
    pub fn name(self) -> &'static str {
        match self {
            PartitionStatus::Ok => "OK",
            PartitionStatus::Warn => "WARN",
            PartitionStatus::Stall => "STALL",
            PartitionStatus::Stop => "STOP",
            PartitionStatus::Rewind => "REWIND",
        }
    }

    /// The group-level status this partition's gives (STALL, STOP, REWIND are ERR).
    pub fn group_name(self) -> &'static str {
        match self {
            PartitionStatus::Ok => "OK",
            PartitionStatus::Warn => "WARN",
            _ => "ERR",
        }
    }
}

/// One partition of a group, evaluated.
#[derive(Debug, Clone)]
pub struct PartitionReport {
    pub topic: String,
    pub partition: i32,
    pub status: PartitionStatus,
    pub start: Option<Commit>,
    pub end: Option<Commit>,
    pub current_lag: i64,
    /// Seconds behind now: the age of the first record not committed (0 when caught up).
    pub lag_seconds: f64,
    /// How full the window is (1.0: INTERVALS commits).
    pub complete: f64,
    /// The diagnosis in words.
    pub explanation: String,
}

/// Evaluates one partition's window at `now_ms` with its current lag, by Burrow's rules.
pub fn evaluate(window: &[Commit], current_lag: i64, now_ms: i64) -> (PartitionStatus, String) {
    let (Some(first), Some(last)) = (window.first(), window.last()) else {
        return if current_lag == 0 {
            (
                PartitionStatus::Ok,
                "no commits yet, nothing to read".into(),
            )
        } else {
            (
                PartitionStatus::Ok,
                format!("no commits yet; {current_lag} records to read"),
            )
        };
    };
    let ago = |ms: i64| human((now_ms - ms).max(0));
    // Rewind: the offset moved backwards within the window.
    if window.windows(2).any(|w| w[1].offset < w[0].offset) {
        return (
            PartitionStatus::Rewind,
            format!(
                "the committed offset moved backwards (to {}) {} ago",
                last.offset,
                ago(last.timestamp)
            ),
        );
    }
    // Stop: behind, and no commit for longer than the window spans.
    let span = last.timestamp - first.timestamp;
    if current_lag > 0 && now_ms - last.timestamp > span.max(1) && window.len() >= 2 {
        return (
            PartitionStatus::Stop,
            format!(
                "stopped committing {} ago while {} records behind",
                ago(last.timestamp),
                thousands(current_lag)
            ),
        );
    }
    if current_lag > 0 && window.len() == 1 && now_ms - last.timestamp > 60_000 {
        return (
            PartitionStatus::Stop,
            format!(
                "stopped committing {} ago while {} records behind",
                ago(last.timestamp),
                thousands(current_lag)
            ),
        );
    }
    // OK: caught up at some point in the window (or now).
    if current_lag == 0 || window.iter().any(|c| c.lag == 0) {
        return (
            PartitionStatus::Ok,
            if current_lag == 0 {
                "caught up".into()
            } else {
                format!(
                    "keeping up ({} records behind, caught up within the window)",
                    thousands(current_lag)
                )
            },
        );
    }
    if window.len() < 2 {
        return (
            PartitionStatus::Ok,
            format!(
                "{} records behind; too few commits to judge",
                thousands(current_lag)
            ),
        );
    }
    // Stall: committing, but always the same offset, while behind.
    if first.offset == last.offset {
        return (
            PartitionStatus::Stall,
            format!(
                "committing the same offset {} while {} records behind",
                last.offset,
                thousands(current_lag)
            ),
        );
    }
    // Warn: moving, but the lag never shrinks over the window.
    let growing = window.windows(2).all(|w| w[1].lag >= w[0].lag);
    if growing {
        return (
            PartitionStatus::Warn,
            format!(
                "consuming but falling behind: lag grew from {} to {} records over {}",
                thousands(first.lag),
                thousands(last.lag),
                human(span)
            ),
        );
    }
    (
        PartitionStatus::Ok,
        format!("consuming ({} records behind)", thousands(current_lag)),
    )
}

fn human(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The windows of every group's partitions.
#[derive(Default)]
pub struct LagMonitor {
    windows: Mutex<HashMap<(String, String, i32), VecDeque<Commit>>>,
}

impl LagMonitor {
    /// Records the commits made since the last sample (a service calls this every second).
    pub fn sample(&self, broker: &Broker) {
        let commits: Vec<(String, String, i32, i64, i64)> = broker.groups.read_all(|all| {
            all.values()
                .flat_map(|g| {
                    g.offsets.iter().map(move |((t, p), e)| {
                        (g.id.clone(), t.clone(), *p, e.offset, e.commit_timestamp)
                    })
                })
                .collect()
        });
        let mut windows = self.windows.lock();
        let mut live = std::collections::HashSet::with_capacity(commits.len());
        for (group, topic, partition, offset, ts) in commits {
            let hw = broker
                .partition(&topic, partition)
                .map(|p| p.log.high_watermark())
                .unwrap_or(offset);
            let key = (group, topic, partition);
            live.insert(key.clone());
            let w = windows.entry(key).or_default();
            if w.back()
                .is_some_and(|c| c.timestamp == ts && c.offset == offset)
            {
                continue;
            }
            w.push_back(Commit {
                offset,
                timestamp: ts,
                lag: (hw - offset).max(0),
            });
            while w.len() > INTERVALS {
                w.pop_front();
            }
        }
        windows.retain(|k, _| live.contains(k));
    }

    /// Every partition of `group` evaluated now.
    pub fn report(&self, broker: &Broker, group: &str) -> Vec<PartitionReport> {
        let now = crate::now_ms();
        let committed: Vec<(String, i32, i64)> = broker.groups.read(group, |g| {
            g.map(|g| {
                g.offsets
                    .iter()
                    .map(|((t, p), e)| (t.clone(), *p, e.offset))
                    .collect()
            })
            .unwrap_or_default()
        });
        let windows = self.windows.lock();
        committed
            .into_iter()
            .map(|(topic, partition, offset)| {
                let window: Vec<Commit> = windows
                    .get(&(group.to_string(), topic.clone(), partition))
                    .map(|w| w.iter().copied().collect())
                    .unwrap_or_default();
                let (lag, seconds) =
                    crate::metrics::lag::partition_lag(broker, &topic, partition, offset, now)
                        .unwrap_or((0, 0.0));
                let (status, explanation) = evaluate(&window, lag, now);
                PartitionReport {
                    start: window.first().copied(),
                    end: window.last().copied(),
                    complete: window.len() as f64 / INTERVALS as f64,
                    topic,
                    partition,
                    status,
                    current_lag: lag,
                    lag_seconds: seconds,
                    explanation,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(points: &[(i64, i64, i64)]) -> Vec<Commit> {
        points
            .iter()
            .map(|&(offset, timestamp, lag)| Commit {
                offset,
                timestamp,
                lag,
            })
            .collect()
    }

    #[test]
    fn given_windows_when_evaluating_should_follow_burrows_rules() {
        let now = 100_000;
        // Moving and catching up at times: OK.
        assert_eq!(
            evaluate(
                &w(&[(10, 0, 5), (20, 10_000, 0), (30, 20_000, 3)]),
                3,
                21_000
            )
            .0,
            PartitionStatus::Ok
        );
        // Moving but the lag grows every commit: WARN.
        let (s, why) = evaluate(
            &w(&[(10, 0, 5), (20, 10_000, 8), (30, 20_000, 12)]),
            12,
            21_000,
        );
        assert_eq!(s, PartitionStatus::Warn, "{why}");
        // The same offset committed again and again while behind: STALL.
        assert_eq!(
            evaluate(
                &w(&[(10, 0, 5), (10, 10_000, 9), (10, 20_000, 12)]),
                12,
                21_000
            )
            .0,
            PartitionStatus::Stall
        );
        // Behind and no commit for longer than the window spans: STOP, said in words.
        let (s, why) = evaluate(
            &w(&[(10, 0, 5), (20, 10_000, 5), (30, 20_000, 5)]),
            12_000,
            now,
        );
        assert_eq!(s, PartitionStatus::Stop);
        assert_eq!(
            why,
            "stopped committing 1 min ago while 12,000 records behind"
        );
        // Moved backwards: REWIND.
        assert_eq!(
            evaluate(&w(&[(30, 0, 5), (10, 10_000, 25)]), 25, 11_000).0,
            PartitionStatus::Rewind
        );
        assert_eq!(PartitionStatus::Stop.group_name(), "ERR");
    }
}
