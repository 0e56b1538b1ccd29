//! `[alerts]`: rules the broker evaluates itself and where it sends what fires.
//!
//! ```toml
//! [[alerts.rules]]
//! name = "ledger-lag"
//! group = "ledger-*"          # glob over group names
//! max_lag_seconds = 300       # or max_lag_records, or status = ["ERR", "WARN"]
//! for_ms = 60000
//! severity = "critical"
//!
//! [[alerts.webhooks]]
//! url = "http://alert-gateway.internal/hook"
//!
//! [[alerts.emails]]
//! url = "smtp://mail.internal:587?tls=required"   # smtps:// for implicit TLS; user:pass@ for AUTH
//! from = "oxbow@bank.example"
//! to = ["oncall@bank.example"]
//! ```

use serde::{Deserialize, Serialize};

use crate::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// How often rules are evaluated. Default 5000; 100..=600000.
    pub evaluation_interval_ms: u64,
    /// A firing alert is sent again this often. Default 3600000; >= 1000.
    pub repeat_interval_ms: u64,
    pub rules: Vec<AlertRule>,
    /// Webhooks receiving Alertmanager's webhook payload (version 4).
    pub webhooks: Vec<Endpoint>,
    /// Alertmanagers receiving the alerts through their API (`POST {url}/api/v2/alerts`).
    pub alertmanagers: Vec<Endpoint>,
    /// Mail sent directly over SMTP.
    pub emails: Vec<EmailReceiver>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            evaluation_interval_ms: 5000,
            repeat_interval_ms: 3_600_000,
            rules: Vec::new(),
            webhooks: Vec::new(),
            alertmanagers: Vec::new(),
            emails: Vec::new(),
        }
    }
}

/// One rule. A group rule (`group` set) fires per matching group whose lag or status crosses
/// it; a topic rule (`topic` set) fires per matching topic whose rate of records in leaves the
/// band; `log_dir_offline = true` fires while the log directory is offline;
/// `max_failed_requests_per_second` fires while failed produce and fetch requests exceed it;
/// `min_disk_free_bytes` / `min_disk_free_percent` fire while the log directory's file system
/// has less free space than that.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    pub group: Option<String>,
    pub max_lag_seconds: Option<f64>,
    pub max_lag_records: Option<i64>,
    /// Group statuses that fire (`OK`, `WARN`, `ERR`).
    pub status: Vec<String>,
    pub topic: Option<String>,
    pub min_messages_per_second: Option<f64>,
    pub max_messages_per_second: Option<f64>,
    pub log_dir_offline: bool,
    /// Fires while failed produce and fetch requests (per partition) exceed this rate.
    pub max_failed_requests_per_second: Option<f64>,
    /// Fires while the log directory's file system has fewer bytes free.
    pub min_disk_free_bytes: Option<u64>,
    /// Fires while the log directory's file system has less than this percentage free (0..100).
    pub min_disk_free_percent: Option<f64>,
    /// How long the condition must hold before the alert fires. Default 0.
    pub for_ms: u64,
    /// The `severity` label. Default `warning`.
    pub severity: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Endpoint {
    pub url: String,
}

/// Where alert mail goes. `url` is the SMTP server: `smtp://host:port` (plain, for a relay on
/// the local network), `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (implicit
/// TLS); `user:password@` before the host authenticates.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmailReceiver {
    pub url: String,
    /// The sender, e.g. `Oxbow <oxbow@bank.example>`.
    pub from: String,
    /// Recipients (at least one).
    pub to: Vec<String>,
}

impl AlertsConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, value: String, reason| Err(ConfigError::Bounds { key, value, reason });
        if !(100..=600_000).contains(&self.evaluation_interval_ms) {
            return bad(
                "alerts.evaluation_interval_ms",
                self.evaluation_interval_ms.to_string(),
                "must be 100..=600000",
            );
        }
        if self.repeat_interval_ms < 1000 {
            return bad(
                "alerts.repeat_interval_ms",
                self.repeat_interval_ms.to_string(),
                "must be >= 1000",
            );
        }
        for r in &self.rules {
            if r.name.is_empty() {
                return bad(
                    "alerts.rules.name",
                    String::new(),
                    "every rule needs a name",
                );
            }
            let kinds = [
                r.group.is_some(),
                r.topic.is_some(),
                r.log_dir_offline,
                r.max_failed_requests_per_second.is_some(),
                r.min_disk_free_bytes.is_some() || r.min_disk_free_percent.is_some(),
            ]
            .iter()
            .filter(|x| **x)
            .count();
            if kinds != 1 {
                return bad(
                    "alerts.rules",
                    r.name.clone(),
                    "a rule names exactly one of group, topic, log_dir_offline, max_failed_requests_per_second, min_disk_free_bytes/min_disk_free_percent",
                );
            }
            if r.group.is_some()
                && r.max_lag_seconds.is_none()
                && r.max_lag_records.is_none()
                && r.status.is_empty()
            {
                return bad(
                    "alerts.rules",
                    r.name.clone(),
                    "a group rule needs max_lag_seconds, max_lag_records or status",
                );
            }
            if r.topic.is_some()
                && r.min_messages_per_second.is_none()
                && r.max_messages_per_second.is_none()
            {
                return bad(
                    "alerts.rules",
                    r.name.clone(),
                    "a topic rule needs min_messages_per_second or max_messages_per_second",
                );
            }
        }
        if let Some(p) = self
            .rules
            .iter()
            .filter_map(|r| r.min_disk_free_percent)
            .find(|p| !(0.0..=100.0).contains(p))
        {
            return bad(
                "alerts.rules.min_disk_free_percent",
                p.to_string(),
                "must be 0..=100",
            );
        }
        for e in &self.emails {
            if !(e.url.starts_with("smtp://") || e.url.starts_with("smtps://")) {
                return bad(
                    "alerts.emails.url",
                    e.url.clone(),
                    "must be an smtp:// or smtps:// URL",
                );
            }
            if !e.from.contains('@') {
                return bad(
                    "alerts.emails.from",
                    e.from.clone(),
                    "must be a mail address",
                );
            }
            if e.to.is_empty() || e.to.iter().any(|t| !t.contains('@')) {
                return bad(
                    "alerts.emails.to",
                    e.to.join(","),
                    "must list at least one mail address",
                );
            }
        }
        for e in self.webhooks.iter().chain(&self.alertmanagers) {
            if !e.url.starts_with("http://") {
                return bad(
                    "alerts.webhooks.url",
                    e.url.clone(),
                    "must be an http:// URL",
                );
            }
        }
        Ok(())
    }
}
