//! Oxbow's configuration: one typed struct per TOML section, defaults for every key, unknown keys
//! rejected, bounds checked, and environment overrides that mirror the TOML path
//! (`OXBOW_<SECTION>_<KEY>`, e.g. `OXBOW_SERVER_LISTEN=0.0.0.0:9092`, `OXBOW_LOG_RETENTION_MS=3600000`).
//!
//! Precedence, lowest first: built-in defaults, the TOML file, environment, command-line flags
//! (applied by the binary).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod alerts;
mod env;
mod http;
mod lake;
mod listeners;
mod quota;
mod registry;
mod sql;

pub use alerts::{AlertRule, AlertsConfig, EmailReceiver, Endpoint};
pub use http::HttpConfig;
pub use lake::{is_object_store_location, LakeConfig, LakeTableConfig, OBJECT_STORE_SCHEMES};
pub use listeners::{ListenerConfig, SecurityConfig, SecurityProtocol, TlsConfig};
pub use quota::QuotaConfig;
pub use registry::RegistryConfig;
pub use sql::SqlConfig;

/// Everything that can go wrong loading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("environment override {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("config key {key}: cannot resolve the secret {reference}: {reason}")]
    Secret {
        key: String,
        reference: String,
        reason: String,
    },
    #[error("config key {key} = {value}: {reason}")]
    Bounds {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// The whole broker configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub log: LogDefaults,
    pub group: GroupConfig,
    pub transaction: TransactionConfig,
    pub tls: TlsConfig,
    pub security: SecurityConfig,
    pub quota: QuotaConfig,
    pub registry: RegistryConfig,
    pub http: HttpConfig,
    pub alerts: AlertsConfig,
    pub lake: LakeConfig,
    pub sql: SqlConfig,
}

/// `[server]`: the Kafka listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the Kafka listener binds. Default `127.0.0.1:9092`.
    pub listen: String,
    /// Address given to clients in Metadata. Default: empty, meaning the listen address.
    pub advertised_listener: String,
    /// This broker's node id. Default 0; 0..=2^31-1.
    pub node_id: i32,
    /// Largest request frame accepted (`socket.request.max.bytes`). Default 100 MiB; 1 KiB..=1 GiB.
    pub max_request_bytes: u32,
    /// Bytes of requests being read or handled at once across all connections; a connection
    /// waits for room before reading the next frame. Default 512 MiB; >= max_request_bytes.
    pub max_inflight_request_bytes: u64,
    /// Connections idle this long are closed (`connections.max.idle.ms`). Default 600000; >= 1000.
    pub connections_max_idle_ms: u64,
    /// Largest number of concurrent client connections. Default 20000; >= 1.
    pub max_connections: u32,
    /// Several listeners (`[[server.listeners]]`: name, listen, advertised, protocol). When
    /// given, `listen` and `advertised_listener` are ignored. Default: none (the single form).
    pub listeners: Vec<ListenerConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9092".into(),
            advertised_listener: String::new(),
            node_id: 0,
            max_request_bytes: 100 * 1024 * 1024,
            max_inflight_request_bytes: 512 * 1024 * 1024,
            connections_max_idle_ms: 600_000,
            max_connections: 20_000,
            listeners: Vec::new(),
        }
    }
}

/// `[storage]`: where and how data is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The log directory. Default `./oxbow-data`.
    pub data_dir: PathBuf,
    /// How often recovery points are checkpointed, in ms. Default 60000; >= 100.
    pub checkpoint_interval_ms: u64,
    /// How often retention is checked (`log.retention.check.interval.ms`). Default 300000; >= 100.
    pub retention_check_interval_ms: u64,
    /// `producer.id.expiration.ms`: an idempotent producer that has not written for this long is
    /// forgotten (checked at each checkpoint). Default 86400000 (one day); >= 1.
    pub producer_id_expiration_ms: i64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./oxbow-data"),
            checkpoint_interval_ms: 60_000,
            retention_check_interval_ms: 300_000,
            producer_id_expiration_ms: 86_400_000,
        }
    }
}

/// `[log]`: broker-wide defaults for topics (Kafka's `num.partitions` and `log.*` keys). Each
/// topic may override the per-topic ones (`segment.bytes`, `retention.ms`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogDefaults {
    /// `num.partitions`: partitions of auto-created topics and CreateTopics with -1. Default 1; 1..=100000.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`: Metadata and Produce create unknown topics. Default true.
    pub auto_create_topics: bool,
    /// `log.segment.bytes`. Default 1 GiB; 14..=2^31-1.
    pub segment_bytes: u64,
    /// `log.roll.ms`. Default 7 days; >= 1.
    pub segment_ms: i64,
    /// `log.retention.ms`. Default 7 days; -1 means forever.
    pub retention_ms: i64,
    /// `log.retention.bytes`. Default -1 (no limit).
    pub retention_bytes: i64,
    /// `message.max.bytes`: largest record batch. Default 1048588; >= 0.
    pub max_message_bytes: u32,
    /// `log.message.timestamp.type`: `CreateTime` or `LogAppendTime`. Default CreateTime.
    pub message_timestamp_type: String,
    /// `log.index.interval.bytes`. Default 4096; >= 0.
    pub index_interval_bytes: u32,
    /// `file.delete.delay.ms`. Default 60000; >= 0.
    pub file_delete_delay_ms: i64,
    /// `log.cleaner.io.max.bytes.per.second`: the compaction cleaner's read + write budget.
    /// Default 52428800 (50 MiB/s, about 14% of a ~360 MB/s disk, leaving the rest to produce,
    /// fetch and replication); 0 = unlimited, otherwise >= 65536.
    pub cleaner_io_max_bytes_per_second: u64,
    /// `log.cleaner.backoff.ms`: how long the cleaner sleeps when no log needs compaction.
    /// Default 15000; 1..=3600000.
    pub cleaner_backoff_ms: u64,
}

impl Default for LogDefaults {
    fn default() -> Self {
        Self {
            num_partitions: 1,
            auto_create_topics: true,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            message_timestamp_type: "CreateTime".into(),
            index_interval_bytes: 4096,
            file_delete_delay_ms: 60_000,
            cleaner_io_max_bytes_per_second: 50 * 1024 * 1024,
            cleaner_backoff_ms: 15_000,
        }
    }
}

/// `[transaction]`: the transaction coordinator (Kafka's `transaction.*` and
/// `transactional.id.*` keys).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TransactionConfig {
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` a producer may ask
    /// for (InitProducerId with more gets INVALID_TRANSACTION_TIMEOUT). Default 900000; >= 1.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: a transactional id with no transaction for this long is
    /// forgotten. Default 604800000 (7 days); >= 1.
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often open
    /// transactions past their timeout are looked for and aborted. Default 10000; 10..=3600000.
    pub abort_timed_out_check_interval_ms: u64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`. Default 3600000;
    /// 10..=86400000.
    pub remove_expired_check_interval_ms: u64,
    /// The `transaction.version` feature finalized in ApiVersions: 2 (default, as Kafka 4.0)
    /// lets clients use Transaction Version 2 (KIP-890 part 2: an epoch bump per transaction,
    /// partitions and groups added implicitly by Produce v12 and TxnOffsetCommit v5); 1 keeps
    /// them on AddPartitionsToTxn and AddOffsetsToTxn. 1..=2.
    pub version: i16,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        Self {
            max_timeout_ms: 900_000,
            id_expiration_ms: 604_800_000,
            abort_timed_out_check_interval_ms: 10_000,
            remove_expired_check_interval_ms: 3_600_000,
            version: 2,
        }
    }
}

impl TransactionConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, value: String, reason| Err(ConfigError::Bounds { key, value, reason });
        if self.max_timeout_ms < 1 {
            return bad(
                "transaction.max_timeout_ms",
                self.max_timeout_ms.to_string(),
                "must be >= 1",
            );
        }
        if self.id_expiration_ms < 1 {
            return bad(
                "transaction.id_expiration_ms",
                self.id_expiration_ms.to_string(),
                "must be >= 1",
            );
        }
        if !(10..=3_600_000).contains(&self.abort_timed_out_check_interval_ms) {
            return bad(
                "transaction.abort_timed_out_check_interval_ms",
                self.abort_timed_out_check_interval_ms.to_string(),
                "must be 10..=3600000",
            );
        }
        if !(1..=2).contains(&self.version) {
            return bad(
                "transaction.version",
                self.version.to_string(),
                "must be 1 or 2",
            );
        }
        if !(10..=86_400_000).contains(&self.remove_expired_check_interval_ms) {
            return bad(
                "transaction.remove_expired_check_interval_ms",
                self.remove_expired_check_interval_ms.to_string(),
                "must be 10..=86400000",
            );
        }
        Ok(())
    }
}

/// `[group]`: the group coordinator (Kafka's `group.*` and `offsets.*` keys).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits for
    /// more members. Default 3000; >= 0.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`. Default 6000; >= 1.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`. Default 1800000; >= min_session_timeout_ms.
    pub max_session_timeout_ms: i32,
    /// `offsets.retention.minutes`: committed offsets of a group that stayed empty this long are
    /// removed. Default 10080 (7 days); >= 1.
    pub offsets_retention_minutes: u64,
    /// `offsets.retention.check.interval.ms`. Default 600000; >= 100.
    pub offsets_retention_check_interval_ms: u64,
    /// `offset.metadata.max.bytes`. Default 4096.
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.heartbeat.interval.ms` (KIP-848). Default 5000; >= 1.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.session.timeout.ms` (KIP-848). Default 45000; > consumer_heartbeat_interval_ms.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.assignors`' default: `uniform` or `range`. Default `uniform`.
    pub consumer_default_assignor: String,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_minutes: 10_080,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            consumer_heartbeat_interval_ms: 5000,
            consumer_session_timeout_ms: 45_000,
            consumer_default_assignor: "uniform".into(),
        }
    }
}

/// `${env:NAME}` / `${file:PATH}` resolved; any other value is returned as it is.
fn resolve_secret(
    key: &str,
    value: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) else {
        return Ok(value.to_string());
    };
    let err = |reason: String| ConfigError::Secret {
        key: key.to_string(),
        reference: value.to_string(),
        reason,
    };
    if let Some(name) = inner.strip_prefix("env:") {
        return env(name).ok_or_else(|| err("the environment variable is not set".into()));
    }
    if let Some(path) = inner.strip_prefix("file:") {
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        return Ok(text.strip_suffix('\r').unwrap_or(text).to_string());
    }
    Err(err("use ${env:NAME} or ${file:PATH}".into()))
}

impl BrokerConfig {
    /// Loads defaults, then `file` if given, then `OXBOW_*` environment overrides, and validates.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`load`](Self::load) with an explicit environment (for tests).
    pub fn load_with_env(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?,
            None => String::new(),
        };
        let mut table: toml::Table = toml::from_str(&text)?;
        env::apply_overrides(&mut table, vars)?;
        let mut config: BrokerConfig = toml::Value::Table(table).try_into()?;
        config.resolve_secrets(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Replaces secret references in the secret-holding keys (`security.plain_users`):
    /// `${env:NAME}` by that environment variable, `${file:/path}` by the file's content (one
    /// trailing newline dropped), so passwords need not be written in the config file.
    pub fn resolve_secrets(
        &mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for (user, value) in self.security.plain_users.iter_mut() {
            let key = format!("security.plain_users.{user}");
            *value = resolve_secret(&key, value, &env)?;
        }
        Ok(())
    }

    /// The address given to clients.
    pub fn advertised_listener(&self) -> &str {
        if self.server.advertised_listener.is_empty() {
            &self.server.listen
        } else {
            &self.server.advertised_listener
        }
    }

    /// Checks every bound documented on the fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn check(
            ok: bool,
            key: &'static str,
            value: impl ToString,
            reason: &'static str,
        ) -> Result<(), ConfigError> {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Bounds {
                    key,
                    value: value.to_string(),
                    reason,
                })
            }
        }
        let s = &self.server;
        check(s.node_id >= 0, "server.node_id", s.node_id, "must be >= 0")?;
        check(
            (1024..=1 << 30).contains(&s.max_request_bytes),
            "server.max_request_bytes",
            s.max_request_bytes,
            "must be between 1 KiB and 1 GiB",
        )?;
        check(
            s.max_inflight_request_bytes >= u64::from(s.max_request_bytes),
            "server.max_inflight_request_bytes",
            s.max_inflight_request_bytes,
            "must be >= server.max_request_bytes",
        )?;
        check(
            s.connections_max_idle_ms >= 1000,
            "server.connections_max_idle_ms",
            s.connections_max_idle_ms,
            "must be >= 1000",
        )?;
        check(
            s.max_connections >= 1,
            "server.max_connections",
            s.max_connections,
            "must be >= 1",
        )?;
        check(
            s.listen.parse::<std::net::SocketAddr>().is_ok() || s.listen.contains(':'),
            "server.listen",
            &s.listen,
            "must be HOST:PORT",
        )?;
        let st = &self.storage;
        check(
            st.checkpoint_interval_ms >= 100,
            "storage.checkpoint_interval_ms",
            st.checkpoint_interval_ms,
            "must be >= 100",
        )?;
        check(
            st.producer_id_expiration_ms >= 1,
            "storage.producer_id_expiration_ms",
            st.producer_id_expiration_ms,
            "must be >= 1",
        )?;
        check(
            st.retention_check_interval_ms >= 100,
            "storage.retention_check_interval_ms",
            st.retention_check_interval_ms,
            "must be >= 100",
        )?;
        let l = &self.log;
        check(
            (1..=100_000).contains(&l.num_partitions),
            "log.num_partitions",
            l.num_partitions,
            "must be 1..=100000",
        )?;
        check(
            (14..=i32::MAX as u64).contains(&l.segment_bytes),
            "log.segment_bytes",
            l.segment_bytes,
            "must be 14..=2147483647",
        )?;
        check(
            l.segment_ms >= 1,
            "log.segment_ms",
            l.segment_ms,
            "must be >= 1",
        )?;
        check(
            l.retention_ms >= -1,
            "log.retention_ms",
            l.retention_ms,
            "must be >= -1",
        )?;
        check(
            l.retention_bytes >= -1,
            "log.retention_bytes",
            l.retention_bytes,
            "must be >= -1",
        )?;
        check(
            l.message_timestamp_type == "CreateTime" || l.message_timestamp_type == "LogAppendTime",
            "log.message_timestamp_type",
            &l.message_timestamp_type,
            "must be CreateTime or LogAppendTime",
        )?;
        check(
            l.file_delete_delay_ms >= 0,
            "log.file_delete_delay_ms",
            l.file_delete_delay_ms,
            "must be >= 0",
        )?;
        check(
            l.cleaner_io_max_bytes_per_second == 0 || l.cleaner_io_max_bytes_per_second >= 65_536,
            "log.cleaner_io_max_bytes_per_second",
            l.cleaner_io_max_bytes_per_second,
            "must be 0 (unlimited) or >= 65536",
        )?;
        check(
            (1..=3_600_000).contains(&l.cleaner_backoff_ms),
            "log.cleaner_backoff_ms",
            l.cleaner_backoff_ms,
            "must be 1..=3600000",
        )?;
        self.group.validate()?;
        self.transaction.validate()?;
        self.quota.validate()?;
        self.registry.validate()?;
        self.http.validate()?;
        self.alerts.validate()?;
        self.lake.validate()?;
        self.sql.validate()?;
        self.validate_listeners()?;
        Ok(())
    }
}

impl GroupConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, value: String, reason| Err(ConfigError::Bounds { key, value, reason });
        if self.min_session_timeout_ms < 1 {
            return bad(
                "group.min_session_timeout_ms",
                self.min_session_timeout_ms.to_string(),
                "must be >= 1",
            );
        }
        if self.max_session_timeout_ms < self.min_session_timeout_ms {
            return bad(
                "group.max_session_timeout_ms",
                self.max_session_timeout_ms.to_string(),
                "must be >= group.min_session_timeout_ms",
            );
        }
        if self.offsets_retention_minutes < 1 {
            return bad(
                "group.offsets_retention_minutes",
                self.offsets_retention_minutes.to_string(),
                "must be >= 1",
            );
        }
        if self.offsets_retention_check_interval_ms < 100 {
            return bad(
                "group.offsets_retention_check_interval_ms",
                self.offsets_retention_check_interval_ms.to_string(),
                "must be >= 100",
            );
        }
        if self.consumer_heartbeat_interval_ms < 1
            || self.consumer_session_timeout_ms <= self.consumer_heartbeat_interval_ms
        {
            return bad(
                "group.consumer_session_timeout_ms",
                self.consumer_session_timeout_ms.to_string(),
                "must be > group.consumer_heartbeat_interval_ms >= 1",
            );
        }
        if self.consumer_default_assignor != "uniform" && self.consumer_default_assignor != "range"
        {
            return bad(
                "group.consumer_default_assignor",
                self.consumer_default_assignor.clone(),
                "must be uniform or range",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_no_file_when_loading_should_use_defaults() {
        let c = BrokerConfig::load_with_env(None, Vec::new()).unwrap();
        assert_eq!(c, BrokerConfig::default());
        assert_eq!(c.advertised_listener(), "127.0.0.1:9092");
    }

    #[test]
    fn given_file_and_env_when_loading_should_apply_env_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oxbow.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"127.0.0.1:1\"\n[log]\nnum_partitions = 3\n",
        )
        .unwrap();
        let env = vec![
            ("OXBOW_SERVER_LISTEN".to_string(), "127.0.0.1:2".to_string()),
            (
                "OXBOW_LOG_AUTO_CREATE_TOPICS".to_string(),
                "false".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let c = BrokerConfig::load_with_env(Some(&path), env).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:2");
        assert_eq!(c.log.num_partitions, 3);
        assert!(!c.log.auto_create_topics);
    }

    #[test]
    fn given_unknown_key_when_loading_should_reject() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oxbow.toml");
        std::fs::write(&path, "[server]\nlisten_typo = \"x\"\n").unwrap();
        let err = BrokerConfig::load_with_env(Some(&path), Vec::new()).unwrap_err();
        assert!(err.to_string().contains("invalid config"), "{err}");
        let err = BrokerConfig::load_with_env(None, vec![("OXBOW_NOPE_X".into(), "1".into())])
            .unwrap_err();
        assert!(err.to_string().contains("OXBOW_NOPE_X"), "{err}");
    }

    #[test]
    fn given_cleaner_keys_when_loading_should_parse_and_bound_them() {
        let c = BrokerConfig::load_with_env(
            None,
            vec![("OXBOW_LOG_CLEANER_BACKOFF_MS".into(), "50".into())],
        )
        .unwrap();
        assert_eq!(c.log.cleaner_backoff_ms, 50);
        assert_eq!(c.log.cleaner_io_max_bytes_per_second, 50 * 1024 * 1024);
        let err = BrokerConfig::load_with_env(
            None,
            vec![(
                "OXBOW_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND".into(),
                "10".into(),
            )],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("log.cleaner_io_max_bytes_per_second"),
            "{err}"
        );
    }

    #[test]
    fn given_out_of_bounds_value_when_loading_should_name_the_key() {
        let err = BrokerConfig::load_with_env(
            None,
            vec![("OXBOW_LOG_NUM_PARTITIONS".into(), "0".into())],
        )
        .unwrap_err();
        assert!(err.to_string().contains("log.num_partitions"), "{err}");
    }
}
