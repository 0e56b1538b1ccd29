//! Alerts the broker raises itself (`[[alerts.rules]]`): group lag in records or seconds and
//! group status (Burrow's, from the lag monitor), a topic's rate of records in outside a band
//! (the business alert: "payments below 10 msg/s for 5 minutes"), the log directory offline or
//! short of free space, failed requests per second.
//! A condition that holds `for_ms` fires; a firing alert is re-sent every `repeat_interval_ms`
//! and resolved when the condition ends. Notifications go to [`notify`], which sends them on a
//! thread of its own with retries, so evaluation never waits on a receiver.

pub mod notify;

use std::collections::{BTreeMap, HashMap};

use oxbow_config::{AlertRule, AlertsConfig};
use parking_lot::Mutex;

use crate::Broker;

/// One alert instance: a rule and the labels that tell its instances apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// When the condition started to hold (ms).
    pub starts_at: i64,
    /// When it ended (resolved), else None.
    pub ends_at: Option<i64>,
}

struct Instance {
    labels: BTreeMap<String, String>,
    pending_since: i64,
    firing: bool,
    last_sent: i64,
    summary: String,
}

/// Evaluation state across rounds.
pub struct AlertEngine {
    config: AlertsConfig,
    instances: Mutex<HashMap<String, Instance>>,
    /// The previous round's records-in counters per topic and when (for rates).
    last_counts: Mutex<(i64, HashMap<String, u64>)>,
    /// The previous round's failed-request total (for its rate).
    last_failed: Mutex<(i64, u64)>,
    notifier: notify::Notifier,
}

/// `*` and `?` globs.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn key(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl AlertEngine {
    pub fn new(config: AlertsConfig, external_url: String) -> Self {
        let notifier = notify::Notifier::start(&config, external_url);
        Self {
            config,
            instances: Mutex::new(HashMap::new()),
            last_counts: Mutex::new((0, HashMap::new())),
            last_failed: Mutex::new((0, 0)),
            notifier,
        }
    }

    pub fn has_rules(&self) -> bool {
        !self.config.rules.is_empty()
    }

    /// The conditions that hold now: (labels, summary) per rule instance.
    fn conditions(&self, broker: &Broker, now: i64) -> Vec<(BTreeMap<String, String>, String)> {
        let mut out = Vec::new();
        // Rates since the last round.
        let counts: HashMap<String, u64> = broker
            .metrics
            .topics()
            .into_iter()
            .map(|(t, c)| (t, c.messages_in.get()))
            .collect();
        let rates: HashMap<String, f64> = {
            let mut last = self.last_counts.lock();
            let elapsed = (now - last.0) as f64 / 1000.0;
            let rates = if last.0 > 0 && elapsed > 0.0 {
                broker
                    .metadata
                    .topics
                    .all()
                    .iter()
                    .map(|t| {
                        let name = &t.meta.name;
                        let now_count = counts.get(name).copied().unwrap_or(0);
                        let before = last.1.get(name).copied().unwrap_or(0);
                        (
                            name.clone(),
                            now_count.saturating_sub(before) as f64 / elapsed,
                        )
                    })
                    .collect()
            } else {
                HashMap::new()
            };
            *last = (now, counts);
            rates
        };
        let failed_rate = {
            let all = &broker.metrics.all_topics;
            let failed = all.failed_produce_requests.get() + all.failed_fetch_requests.get();
            let mut last = self.last_failed.lock();
            let elapsed = (now - last.0) as f64 / 1000.0;
            let rate = (last.0 > 0 && elapsed > 0.0)
                .then(|| failed.saturating_sub(last.1) as f64 / elapsed);
            *last = (now, failed);
            rate
        };
        let groups: Vec<String> = broker.groups.read_all(|all| all.keys().cloned().collect());
        for rule in &self.config.rules {
            let base = |extra: &[(&str, &str)]| {
                let mut l = BTreeMap::new();
                l.insert("alertname".to_string(), rule.name.clone());
                l.insert(
                    "severity".to_string(),
                    rule.severity.clone().unwrap_or_else(|| "warning".into()),
                );
                for (k, v) in extra {
                    l.insert(k.to_string(), v.to_string());
                }
                l
            };
            if let Some(pattern) = &rule.group {
                for g in groups.iter().filter(|g| glob(pattern, g)) {
                    if let Some(why) = group_condition(broker, rule, g) {
                        out.push((base(&[("group", g)]), why));
                    }
                }
            }
            if let Some(pattern) = &rule.topic {
                for (topic, rate) in rates.iter().filter(|(t, _)| glob(pattern, t)) {
                    let low = rule.min_messages_per_second.is_some_and(|m| *rate < m);
                    let high = rule.max_messages_per_second.is_some_and(|m| *rate > m);
                    if low || high {
                        let band = format!(
                            "{}..{}",
                            rule.min_messages_per_second
                                .map_or("-".into(), |v| v.to_string()),
                            rule.max_messages_per_second
                                .map_or("-".into(), |v| v.to_string())
                        );
                        out.push((
                            base(&[("topic", topic)]),
                            format!("topic {topic} at {rate:.1} msg/s, outside {band} msg/s"),
                        ));
                    }
                }
            }
            if let (Some(limit), Some(rate)) = (rule.max_failed_requests_per_second, failed_rate) {
                if rate > limit {
                    out.push((
                        base(&[]),
                        format!(
                            "{rate:.1} failed produce/fetch requests per second (limit {limit})"
                        ),
                    ));
                }
            }
            if rule.min_disk_free_bytes.is_some() || rule.min_disk_free_percent.is_some() {
                if let Some(why) = disk_condition(broker, rule) {
                    out.push((base(&[]), why));
                }
            }
            if rule.log_dir_offline && broker.logs.is_offline() {
                out.push((
                    base(&[]),
                    format!("log directory {} offline", broker.logs.location().display()),
                ));
            }
        }
        out
    }

    /// One round: evaluate, fire what has held long enough, repeat, resolve what ended.
    pub fn evaluate(&self, broker: &Broker) {
        let now = crate::now_ms();
        let holding = self.conditions(broker, now);
        let rule_for = |name: &str| self.config.rules.iter().find(|r| r.name == name);
        let mut instances = self.instances.lock();
        let mut seen = std::collections::HashSet::new();
        for (labels, summary) in holding {
            let k = key(&labels);
            seen.insert(k.clone());
            let for_ms = labels
                .get("alertname")
                .and_then(|n| rule_for(n))
                .map_or(0, |r| r.for_ms) as i64;
            let inst = instances.entry(k).or_insert(Instance {
                labels: labels.clone(),
                pending_since: now,
                firing: false,
                last_sent: 0,
                summary: summary.clone(),
            });
            inst.summary = summary;
            let due = !inst.firing && now - inst.pending_since >= for_ms;
            let repeat =
                inst.firing && now - inst.last_sent >= self.config.repeat_interval_ms as i64;
            if due || repeat {
                inst.firing = true;
                inst.last_sent = now;
                tracing::warn!(
                    alert = labels.get("alertname").map(String::as_str).unwrap_or(""),
                    labels = key(&labels),
                    summary = inst.summary,
                    "alert firing"
                );
                self.notifier
                    .send(alert(labels, &inst.summary, inst.pending_since, None));
            }
        }
        let ended: Vec<String> = instances
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for k in ended {
            if let Some(inst) = instances.remove(&k) {
                if inst.firing {
                    tracing::info!(labels = k, "alert resolved");
                    self.notifier.send(alert(
                        inst.labels,
                        &inst.summary,
                        inst.pending_since,
                        Some(now),
                    ));
                }
            }
        }
    }
}

fn alert(
    labels: BTreeMap<String, String>,
    summary: &str,
    starts_at: i64,
    ends_at: Option<i64>,
) -> Alert {
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_string(), summary.to_string());
    Alert {
        labels,
        annotations,
        starts_at,
        ends_at,
    }
}

/// Whether the log directory's file system is shorter of space than the rule allows, and why.
fn disk_condition(broker: &Broker, rule: &AlertRule) -> Option<String> {
    let dir = broker.data_dir();
    let (total, usable) = match crate::disk::disk_space(dir) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "statvfs failed");
            return None;
        }
    };
    let percent = if total > 0 {
        usable as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    let low_bytes = rule
        .min_disk_free_bytes
        .is_some_and(|m| (usable.max(0) as u64) < m);
    let low_percent = rule.min_disk_free_percent.is_some_and(|m| percent < m);
    (low_bytes || low_percent).then(|| {
        format!(
            "log directory {} has {} MiB free ({percent:.1} %)",
            dir.display(),
            usable / (1 << 20)
        )
    })
}

/// Whether a group breaks the rule now, and why.
fn group_condition(broker: &Broker, rule: &AlertRule, group: &str) -> Option<String> {
    let reports = broker.lag_monitor.report(broker, group);
    let max_seconds = reports.iter().map(|p| p.lag_seconds).fold(0.0, f64::max);
    let total: i64 = reports.iter().map(|p| p.current_lag).sum();
    let worst = reports.iter().map(|p| p.status).max();
    if let Some(limit) = rule.max_lag_seconds {
        if max_seconds > limit {
            return Some(format!(
                "group {group} is {max_seconds:.0} s behind (limit {limit} s)"
            ));
        }
    }
    if let Some(limit) = rule.max_lag_records {
        if total > limit {
            return Some(format!(
                "group {group} is {total} records behind (limit {limit})"
            ));
        }
    }
    if let Some(w) = worst {
        if rule
            .status
            .iter()
            .any(|s| s.eq_ignore_ascii_case(w.group_name()))
        {
            let why = reports
                .iter()
                .find(|p| p.status == w)
                .map(|p| format!("{}-{}: {}", p.topic, p.partition, p.explanation))
                .unwrap_or_default();
            return Some(format!("group {group} is {}: {why}", w.group_name()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_globs_when_matching_should_follow_star_and_question_mark() {
        assert!(glob("ledger-*", "ledger-eu"));
        assert!(glob("ledger-*", "ledger-"));
        assert!(!glob("ledger-*", "ledge"));
        assert!(glob("a?c", "abc"));
        assert!(glob("*", ""));
        assert!(!glob("a?c", "ac"));
    }
}
