//! Topic configs: the keys Oxbow knows, their types, bounds, broker-level synonyms and defaults,
//! and how they resolve into the storage engine's [`LogConfig`].
//!
//! Resolution order for a topic key (Kafka's): the topic's own override, then a dynamic broker
//! default (AlterConfigs on the broker), then the static broker config (TOML `[log]`), then the
//! built-in default.

use std::collections::BTreeMap;

use oxbow_config::LogDefaults;
use oxbow_storage::{CleanupPolicy, LogConfig, TimestampType};

/// DescribeConfigs `config_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// DescribeConfigs `config_source` values (Kafka's `ConfigSource` ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
    /// A group config set for the group (KIP-848's GROUP_CONFIG).
    DynamicGroup = 8,
}

/// One topic config key.
pub struct TopicConfigDef {
    pub name: &'static str,
    /// The broker-level key that supplies its default (`log.retention.ms` for `retention.ms`).
    pub broker_key: &'static str,
    pub kind: ConfigType,
    pub default: &'static str,
    pub doc: &'static str,
    validate: fn(&str) -> Result<(), String>,
}

const I64_MAX: &str = "9223372036854775807";

/// Every topic config Oxbow accepts.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        "log.cleanup.policy",
        ConfigType::List,
        "delete",
        "delete, compact, or compact,delete",
        v_cleanup_policy,
    ),
    def(
        "compression.type",
        "compression.type",
        ConfigType::String,
        "producer",
        "producer (batches stored as the producer compressed them), or uncompressed, gzip, snappy, lz4, zstd (batches in another codec are recompressed on produce)",
        v_compression,
    ),
    def(
        "delete.retention.ms",
        "log.cleaner.delete.retention.ms",
        ConfigType::Long,
        "86400000",
        "How long tombstones are kept on compacted topics",
        v_long_min0,
    ),
    def(
        "file.delete.delay.ms",
        "log.segment.delete.delay.ms",
        ConfigType::Long,
        "60000",
        "Delay before a deleted segment's file is removed",
        v_long_min0,
    ),
    def(
        "flush.messages",
        "log.flush.interval.messages",
        ConfigType::Long,
        I64_MAX,
        "Accepted for compatibility; acks=all always fsyncs",
        v_long_min1,
    ),
    def(
        "flush.ms",
        "log.flush.interval.ms",
        ConfigType::Long,
        I64_MAX,
        "Accepted for compatibility; acks=all always fsyncs",
        v_long_min0,
    ),
    def(
        "index.interval.bytes",
        "log.index.interval.bytes",
        ConfigType::Int,
        "4096",
        "Bytes between sparse offset index entries",
        v_int_min0,
    ),
    def(
        "max.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        ConfigType::Long,
        I64_MAX,
        "Longest time a record may stay uncompacted",
        v_long_min1,
    ),
    def(
        "max.message.bytes",
        "message.max.bytes",
        ConfigType::Int,
        "1048588",
        "Largest record batch accepted",
        v_int_min0,
    ),
    def(
        "message.timestamp.type",
        "log.message.timestamp.type",
        ConfigType::String,
        "CreateTime",
        "CreateTime or LogAppendTime",
        v_timestamp_type,
    ),
    def(
        "message.timestamp.before.max.ms",
        "log.message.timestamp.before.max.ms",
        ConfigType::Long,
        I64_MAX,
        "The largest time a CreateTime timestamp may lie before the broker's clock; records beyond are refused (INVALID_TIMESTAMP)",
        v_long_min0,
    ),
    def(
        "message.timestamp.after.max.ms",
        "log.message.timestamp.after.max.ms",
        ConfigType::Long,
        I64_MAX,
        "The largest time a CreateTime timestamp may lie after the broker's clock; records beyond are refused (INVALID_TIMESTAMP)",
        v_long_min0,
    ),
    def(
        "min.cleanable.dirty.ratio",
        "log.cleaner.min.cleanable.ratio",
        ConfigType::Double,
        "0.5",
        "Dirty ratio above which a log is compacted",
        v_ratio,
    ),
    def(
        "min.compaction.lag.ms",
        "log.cleaner.min.compaction.lag.ms",
        ConfigType::Long,
        "0",
        "Shortest time a record stays uncompacted",
        v_long_min0,
    ),
    def(
        "min.insync.replicas",
        "min.insync.replicas",
        ConfigType::Int,
        "1",
        "Single node: always satisfied",
        v_int_min1,
    ),
    def(
        "preallocate",
        "log.preallocate",
        ConfigType::Boolean,
        "false",
        "Accepted for compatibility",
        v_bool,
    ),
    def(
        "retention.bytes",
        "log.retention.bytes",
        ConfigType::Long,
        "-1",
        "Largest log size before old segments are deleted; -1 = no limit",
        v_long_min_neg1,
    ),
    def(
        "retention.ms",
        "log.retention.ms",
        ConfigType::Long,
        "604800000",
        "Age after which segments are deleted; -1 = forever",
        v_long_min_neg1,
    ),
    def(
        "segment.bytes",
        "log.segment.bytes",
        ConfigType::Int,
        "1073741824",
        "Segment file size before rolling",
        v_segment_bytes,
    ),
    def(
        "segment.index.bytes",
        "log.index.size.max.bytes",
        ConfigType::Int,
        "10485760",
        "Accepted for compatibility",
        v_int_min4,
    ),
    def(
        "segment.jitter.ms",
        "log.roll.jitter.ms",
        ConfigType::Long,
        "0",
        "Accepted for compatibility",
        v_long_min0,
    ),
    def(
        "segment.ms",
        "log.roll.ms",
        ConfigType::Long,
        "604800000",
        "Age of the active segment before rolling",
        v_long_min1,
    ),
    def(
        "unclean.leader.election.enable",
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        "false",
        "Single node: no effect",
        v_bool,
    ),
    def(
        "message.downconversion.enable",
        "log.message.downconversion.enable",
        ConfigType::Boolean,
        "true",
        "Accepted for compatibility",
        v_bool,
    ),
    def(
        "confluent.key.schema.validation",
        "confluent.key.schema.validation",
        ConfigType::Boolean,
        "false",
        "Refuse records whose key carries no schema id registered for the key subject",
        v_bool,
    ),
    def(
        "confluent.value.schema.validation",
        "confluent.value.schema.validation",
        ConfigType::Boolean,
        "false",
        "Refuse records whose value carries no schema id registered for the value subject",
        v_bool,
    ),
    def(
        "confluent.key.subject.name.strategy",
        "confluent.key.subject.name.strategy",
        ConfigType::String,
        "io.confluent.kafka.serializers.subject.TopicNameStrategy",
        "How the key subject is named: TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy",
        crate::schema_validation::validate_strategy,
    ),
    def(
        "confluent.value.subject.name.strategy",
        "confluent.value.subject.name.strategy",
        ConfigType::String,
        "io.confluent.kafka.serializers.subject.TopicNameStrategy",
        "How the value subject is named: TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy",
        crate::schema_validation::validate_strategy,
    ),
];

const fn def(
    name: &'static str,
    broker_key: &'static str,
    kind: ConfigType,
    default: &'static str,
    doc: &'static str,
    validate: fn(&str) -> Result<(), String>,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        broker_key,
        kind,
        default,
        doc,
        validate,
    }
}

pub fn find(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

pub fn find_by_broker_key(key: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.broker_key == key)
}

/// Validates one topic config value; the error message is for the client.
pub fn validate(name: &str, value: Option<&str>) -> Result<(), String> {
    let def = find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let value = value.ok_or_else(|| format!("Null value not supported for topic config {name}"))?;
    (def.validate)(value)
        .map_err(|why| format!("Invalid value {value} for configuration {name}: {why}"))
}

/// Validates a whole set of overrides.
pub fn validate_all(configs: &BTreeMap<String, String>) -> Result<(), String> {
    configs.iter().try_for_each(|(k, v)| validate(k, Some(v)))
}

/// Broker-level defaults: the TOML `[log]` section plus dynamic broker configs.
#[derive(Debug, Clone, Default)]
pub struct BrokerDefaults {
    pub static_log: LogDefaults,
    /// Dynamic broker configs by broker key, with whether they were set cluster-wide (`""`).
    pub dynamic: BTreeMap<String, (String, bool)>,
}

impl BrokerDefaults {
    /// The value of a broker-level key that backs a topic config, and where it came from.
    pub fn topic_default(&self, def: &TopicConfigDef) -> (String, ConfigSource) {
        if let Some((v, cluster_wide)) = self.dynamic.get(def.broker_key) {
            let source = if *cluster_wide {
                ConfigSource::DynamicDefaultBroker
            } else {
                ConfigSource::DynamicBroker
            };
            return (v.clone(), source);
        }
        match self.static_value(def.name) {
            Some(v) if v != def.default => (v, ConfigSource::StaticBroker),
            _ => (def.default.to_string(), ConfigSource::Default),
        }
    }

    fn static_value(&self, topic_key: &str) -> Option<String> {
        let l = &self.static_log;
        Some(match topic_key {
            "segment.bytes" => l.segment_bytes.to_string(),
            "segment.ms" => l.segment_ms.to_string(),
            "retention.ms" => l.retention_ms.to_string(),
            "retention.bytes" => l.retention_bytes.to_string(),
            "max.message.bytes" => l.max_message_bytes.to_string(),
            "message.timestamp.type" => l.message_timestamp_type.clone(),
            "index.interval.bytes" => l.index_interval_bytes.to_string(),
            "file.delete.delay.ms" => l.file_delete_delay_ms.to_string(),
            _ => return None,
        })
    }

    /// `num.partitions`, honouring a dynamic override.
    pub fn num_partitions(&self) -> i32 {
        self.dynamic
            .get("num.partitions")
            .and_then(|(v, _)| v.parse().ok())
            .unwrap_or(self.static_log.num_partitions)
    }

    /// `auto.create.topics.enable`, honouring a dynamic override.
    pub fn auto_create_topics(&self) -> bool {
        self.dynamic
            .get("auto.create.topics.enable")
            .and_then(|(v, _)| v.parse().ok())
            .unwrap_or(self.static_log.auto_create_topics)
    }

    /// The effective value of a topic config for a topic with `overrides`, and its source.
    pub fn effective(
        &self,
        def: &TopicConfigDef,
        overrides: &BTreeMap<String, String>,
    ) -> (String, ConfigSource) {
        match overrides.get(def.name) {
            Some(v) => (v.clone(), ConfigSource::DynamicTopic),
            None => self.topic_default(def),
        }
    }

    /// Resolves the storage engine's settings for a topic.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let get = |name: &str| -> String {
            find(name)
                .map(|d| self.effective(d, overrides).0)
                .unwrap_or_default()
        };
        let base = LogConfig::default();
        LogConfig {
            segment_bytes: get("segment.bytes").parse().unwrap_or(base.segment_bytes),
            segment_ms: get("segment.ms").parse().unwrap_or(base.segment_ms),
            retention_ms: get("retention.ms").parse().unwrap_or(base.retention_ms),
            retention_bytes: get("retention.bytes")
                .parse()
                .unwrap_or(base.retention_bytes),
            max_message_bytes: get("max.message.bytes")
                .parse()
                .unwrap_or(base.max_message_bytes),
            timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            index_interval_bytes: get("index.interval.bytes")
                .parse()
                .unwrap_or(base.index_interval_bytes),
            file_delete_delay_ms: get("file.delete.delay.ms")
                .parse()
                .unwrap_or(base.file_delete_delay_ms),
            cleanup_policy: CleanupPolicy::parse(&get("cleanup.policy"))
                .unwrap_or(base.cleanup_policy),
            delete_retention_ms: get("delete.retention.ms")
                .parse()
                .unwrap_or(base.delete_retention_ms),
            min_cleanable_dirty_ratio: get("min.cleanable.dirty.ratio")
                .parse()
                .unwrap_or(base.min_cleanable_dirty_ratio),
            min_compaction_lag_ms: get("min.compaction.lag.ms")
                .parse()
                .unwrap_or(base.min_compaction_lag_ms),
            max_compaction_lag_ms: get("max.compaction.lag.ms")
                .parse()
                .unwrap_or(base.max_compaction_lag_ms),
            compression_codec: crate::recompress::codec_id(&get("compression.type")),
            timestamp_before_max_ms: get("message.timestamp.before.max.ms")
                .parse()
                .unwrap_or(base.timestamp_before_max_ms),
            timestamp_after_max_ms: get("message.timestamp.after.max.ms")
                .parse()
                .unwrap_or(base.timestamp_after_max_ms),
        }
    }
}

fn parse_long(v: &str) -> Result<i64, String> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| "not a valid long".to_string())
}
fn parse_int(v: &str) -> Result<i32, String> {
    v.trim()
        .parse::<i32>()
        .map_err(|_| "not a valid int".to_string())
}
fn at_least<T: PartialOrd + std::fmt::Display>(v: T, min: T) -> Result<(), String> {
    if v >= min {
        Ok(())
    } else {
        Err(format!("value must be at least {min}"))
    }
}
fn v_long_min0(v: &str) -> Result<(), String> {
    at_least(parse_long(v)?, 0)
}
fn v_long_min1(v: &str) -> Result<(), String> {
    at_least(parse_long(v)?, 1)
}
fn v_long_min_neg1(v: &str) -> Result<(), String> {
    at_least(parse_long(v)?, -1)
}
fn v_int_min0(v: &str) -> Result<(), String> {
    at_least(parse_int(v)?, 0)
}
fn v_int_min1(v: &str) -> Result<(), String> {
    at_least(parse_int(v)?, 1)
}
fn v_int_min4(v: &str) -> Result<(), String> {
    at_least(parse_int(v)?, 4)
}
fn v_segment_bytes(v: &str) -> Result<(), String> {
    at_least(parse_int(v)?, 14)
}
fn v_bool(v: &str) -> Result<(), String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "false" => Ok(()),
        _ => Err("expected true or false".into()),
    }
}
fn v_ratio(v: &str) -> Result<(), String> {
    match v.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(()),
        _ => Err("value must be a number between 0 and 1".into()),
    }
}
fn v_timestamp_type(v: &str) -> Result<(), String> {
    match v {
        "CreateTime" | "LogAppendTime" => Ok(()),
        _ => Err("expected CreateTime or LogAppendTime".into()),
    }
}
fn v_compression(v: &str) -> Result<(), String> {
    match v {
        "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd" => Ok(()),
        _ => Err("expected one of uncompressed, gzip, snappy, lz4, zstd, producer".into()),
    }
}
fn v_cleanup_policy(v: &str) -> Result<(), String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if !parts.is_empty() && parts.iter().all(|p| *p == "delete" || *p == "compact") {
        Ok(())
    } else {
        Err("expected a list of delete and/or compact".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_bad_values_when_validating_should_explain() {
        assert!(validate("retention.ms", Some("abc"))
            .unwrap_err()
            .contains("retention.ms"));
        assert!(validate("segment.bytes", Some("10")).is_err());
        assert!(validate("no.such.key", Some("1"))
            .unwrap_err()
            .contains("Unknown"));
        assert!(validate("cleanup.policy", Some("compact,delete")).is_ok());
        assert!(validate("cleanup.policy", Some("shred")).is_err());
    }

    #[test]
    fn given_override_when_resolving_should_win_over_defaults() {
        let mut d = BrokerDefaults::default();
        d.dynamic
            .insert("log.retention.ms".into(), ("1000".into(), true));
        let mut o = BTreeMap::new();
        assert_eq!(d.log_config(&o).retention_ms, 1000);
        o.insert("retention.ms".into(), "5".into());
        assert_eq!(d.log_config(&o).retention_ms, 5);
        let def = find("retention.ms").unwrap();
        assert_eq!(d.effective(def, &o).1, ConfigSource::DynamicTopic);
    }

    #[test]
    fn given_compaction_overrides_when_resolving_should_map_to_log_config() {
        let d = BrokerDefaults::default();
        let mut o = BTreeMap::new();
        assert_eq!(d.log_config(&o).cleanup_policy, CleanupPolicy::DELETE);
        o.insert("cleanup.policy".into(), "compact,delete".into());
        o.insert("delete.retention.ms".into(), "100".into());
        o.insert("min.cleanable.dirty.ratio".into(), "0.1".into());
        let c = d.log_config(&o);
        assert_eq!(c.cleanup_policy, CleanupPolicy::COMPACT_DELETE);
        assert_eq!(c.delete_retention_ms, 100);
        assert_eq!(c.min_cleanable_dirty_ratio, 0.1);
    }
}
