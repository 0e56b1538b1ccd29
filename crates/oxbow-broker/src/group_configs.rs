//! Group configs (KIP-848's GROUP config resource, as Kafka 4.0 serves it):
//! `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms` per consumer group, set
//! with IncrementalAlterConfigs, read with DescribeConfigs, persisted in
//! `<data>/meta/group-configs.json` (written crash-safely before the answer) and handed to the
//! group coordinator, which applies them to the group's members.
//!
//! Bounds are Kafka's defaults (`group.consumer.{min,max}.session.timeout.ms` 45000..60000,
//! `group.consumer.{min,max}.heartbeat.interval.ms` 5000..15000), widened to include this
//! broker's own `group.consumer_*` settings, and the interval must stay below the timeout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxbow_config::GroupConfig;
use oxbow_coordinator::group_overrides::{GroupOverrides, OverrideTable};
use parking_lot::Mutex;

use crate::producer_ids::{read_json_or_default, write_atomically};

pub const SESSION_TIMEOUT: &str = "consumer.session.timeout.ms";
pub const HEARTBEAT_INTERVAL: &str = "consumer.heartbeat.interval.ms";

/// The keys of a group config, in the order DescribeConfigs lists them.
pub const KEYS: [&str; 2] = [HEARTBEAT_INTERVAL, SESSION_TIMEOUT];

/// Set values per group (key → value), as stored.
type Table = BTreeMap<String, BTreeMap<String, String>>;

/// Why group configs were not changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GroupConfigError {
    /// No group named (INVALID_GROUP_ID).
    #[error("Group name must not be empty")]
    EmptyGroup,
    /// A bad key or value (INVALID_CONFIG).
    #[error("{0}")]
    Invalid(String),
    /// The file could not be written (KAFKA_STORAGE_ERROR).
    #[error("cannot persist group configs: {0}")]
    Storage(String),
}

/// Kafka's check of a GROUP config resource's name.
pub fn check_group(name: &str) -> Result<(), GroupConfigError> {
    if name.is_empty() {
        return Err(GroupConfigError::EmptyGroup);
    }
    Ok(())
}

/// Whether `key` is a group config.
pub fn check_key(key: &str) -> Result<(), GroupConfigError> {
    if !KEYS.contains(&key) {
        return Err(GroupConfigError::Invalid(format!(
            "Unknown group config name: {key}"
        )));
    }
    Ok(())
}

/// One key of a group's configs as DescribeConfigs shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupConfigValue {
    pub name: &'static str,
    pub value: String,
    /// Set for the group (GROUP_CONFIG), else the broker's value (DEFAULT_CONFIG).
    pub set: bool,
    pub broker_value: String,
    pub doc: &'static str,
}

pub struct GroupConfigStore {
    path: PathBuf,
    table: Mutex<Table>,
}

impl GroupConfigStore {
    /// Loads `meta/group-configs.json` (none yet: no group configs).
    pub fn open(meta_dir: &Path) -> std::io::Result<Self> {
        let path = meta_dir.join("group-configs.json");
        let table: Table = read_json_or_default(&path)?;
        Ok(Self {
            path,
            table: Mutex::new(table),
        })
    }

    /// The values set for `group`.
    pub fn get(&self, group: &str) -> BTreeMap<String, String> {
        self.table.lock().get(group).cloned().unwrap_or_default()
    }

    /// Every group's overrides, as the coordinator applies them.
    pub fn overrides(&self) -> OverrideTable {
        self.table
            .lock()
            .iter()
            .map(|(g, values)| (g.clone(), to_overrides(values)))
            .filter(|(_, o)| !o.is_empty())
            .collect()
    }

    /// Replaces `group`'s values after checking them; durable before it returns.
    pub fn replace(
        &self,
        cfg: &GroupConfig,
        group: &str,
        values: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), GroupConfigError> {
        validate(cfg, &values)?;
        if validate_only {
            return Ok(());
        }
        let mut table = self.table.lock();
        let mut next = table.clone();
        if values.is_empty() {
            next.remove(group);
        } else {
            next.insert(group.to_string(), values);
        }
        let bytes = serde_json::to_vec_pretty(&next)
            .map_err(|e| GroupConfigError::Storage(e.to_string()))?;
        write_atomically(&self.path, &bytes).map_err(|e| {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot persist group configs");
            GroupConfigError::Storage(e.to_string())
        })?;
        *table = next;
        Ok(())
    }

    /// Every key for `group`: its set value, else the broker's.
    pub fn values(&self, cfg: &GroupConfig, group: &str) -> Vec<GroupConfigValue> {
        let set = self.get(group);
        KEYS.iter()
            .map(|key| {
                let broker_value = default_of(cfg, key).to_string();
                GroupConfigValue {
                    name: key,
                    value: set
                        .get(*key)
                        .cloned()
                        .unwrap_or_else(|| broker_value.clone()),
                    set: set.contains_key(*key),
                    broker_value,
                    doc: doc(key),
                }
            })
            .collect()
    }
}

fn default_of(cfg: &GroupConfig, key: &str) -> i32 {
    if key == SESSION_TIMEOUT {
        cfg.consumer_session_timeout_ms
    } else {
        cfg.consumer_heartbeat_interval_ms
    }
}

fn doc(key: &str) -> &'static str {
    if key == SESSION_TIMEOUT {
        "The timeout to detect client failures when using the consumer group protocol."
    } else {
        "The heartbeat interval given to the members of a consumer group."
    }
}

fn to_overrides(values: &BTreeMap<String, String>) -> GroupOverrides {
    let int = |k: &str| values.get(k).and_then(|v| v.parse::<i32>().ok());
    GroupOverrides {
        consumer_session_timeout_ms: int(SESSION_TIMEOUT),
        consumer_heartbeat_interval_ms: int(HEARTBEAT_INTERVAL),
    }
}

/// Kafka's bounds, widened to include the broker's own setting.
fn bounds(cfg: &GroupConfig, key: &str) -> (i32, i32) {
    let own = default_of(cfg, key);
    let (min, max) = if key == SESSION_TIMEOUT {
        (45_000, 60_000)
    } else {
        (5_000, 15_000)
    };
    (min.min(own), max.max(own))
}

fn validate(cfg: &GroupConfig, values: &BTreeMap<String, String>) -> Result<(), GroupConfigError> {
    let invalid = |m: String| Err(GroupConfigError::Invalid(m));
    for (key, value) in values {
        check_key(key)?;
        let Ok(v) = value.parse::<i32>() else {
            return invalid(format!(
                "Invalid value {value} for configuration {key}: Not a number of type INT"
            ));
        };
        let (min, max) = bounds(cfg, key);
        if !(min..=max).contains(&v) {
            return invalid(format!(
                "Invalid value {v} for configuration {key}: must be between {min} and {max}"
            ));
        }
    }
    let o = to_overrides(values);
    let session = o
        .consumer_session_timeout_ms
        .unwrap_or(cfg.consumer_session_timeout_ms);
    let interval = o
        .consumer_heartbeat_interval_ms
        .unwrap_or(cfg.consumer_heartbeat_interval_ms);
    if interval >= session {
        return invalid(format!(
            "{HEARTBEAT_INTERVAL} ({interval}) must be less than {SESSION_TIMEOUT} ({session})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn given_group_values_when_validating_should_enforce_kafkas_bounds() {
        let cfg = GroupConfig::default();
        assert!(validate(&cfg, &values(&[(SESSION_TIMEOUT, "50000")])).is_ok());
        assert!(validate(&cfg, &values(&[(SESSION_TIMEOUT, "1000")])).is_err());
        assert!(validate(&cfg, &values(&[(HEARTBEAT_INTERVAL, "60000")])).is_err());
        assert!(validate(&cfg, &values(&[(HEARTBEAT_INTERVAL, "x")])).is_err());
        assert!(validate(&cfg, &values(&[("consumer.nonsense", "1")])).is_err());
    }

    #[test]
    fn given_stored_values_when_reopened_should_keep_them() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = GroupConfig::default();
        let store = GroupConfigStore::open(dir.path()).unwrap();
        store
            .replace(&cfg, "g", values(&[(HEARTBEAT_INTERVAL, "6000")]), false)
            .unwrap();
        let again = GroupConfigStore::open(dir.path()).unwrap();
        assert_eq!(
            again.overrides()["g"].consumer_heartbeat_interval_ms,
            Some(6000)
        );
        let v = again.values(&cfg, "g");
        assert_eq!((v[0].value.as_str(), v[0].set), ("6000", true));
        assert!(!again.values(&cfg, "other")[0].set);
    }
}
