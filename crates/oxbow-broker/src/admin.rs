//! What the admin handlers share: the failure type they answer with, the wire ids of config
//! sources and types, the broker-level config keys (read-only and dynamic), and the dynamic broker
//! config levels (cluster-wide default and this broker).

use crate::authorizer::Operation;
use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use parking_lot::{Mutex, MutexGuard};

use crate::broker::TopicError;
use crate::error_map::map_topic_error;
use crate::topic_config::{self, BrokerDefaults, ConfigSource, ConfigType, TopicConfigDef};
use crate::Broker;

/// DescribeConfigs / AlterConfigs resource types.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
/// The GROUP config resource (KIP-848; ConfigResource.Type 32).
pub const RESOURCE_GROUP: i8 = 32;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

/// An admin request's per-resource failure: the code and the message for `error_message`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminFailure {
    pub code: ResponseError,
    pub message: String,
}

impl AdminFailure {
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ResponseError::InvalidRequest, message)
    }
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ResponseError::InvalidConfig, message)
    }
}

impl From<crate::group_configs::GroupConfigError> for AdminFailure {
    fn from(e: crate::group_configs::GroupConfigError) -> Self {
        use crate::group_configs::GroupConfigError;
        match e {
            GroupConfigError::EmptyGroup => Self::new(ResponseError::InvalidGroupId, e.to_string()),
            GroupConfigError::Invalid(m) => Self::invalid_config(m),
            e @ GroupConfigError::Storage(_) => {
                Self::new(ResponseError::KafkaStorageError, e.to_string())
            }
        }
    }
}

/// DescribeConfigs' entries of a group (the GROUP resource): set values as GROUP_CONFIG with the
/// broker's value as a synonym, else the broker's value as DEFAULT_CONFIG.
pub fn group_config_entries(
    values: Vec<crate::group_configs::GroupConfigValue>,
) -> Vec<ConfigEntry> {
    values
        .into_iter()
        .map(|v| {
            let source = if v.set {
                ConfigSource::DynamicGroup
            } else {
                ConfigSource::Default
            };
            let mut synonyms = vec![(v.name.to_string(), v.value.clone(), source)];
            if v.set {
                synonyms.push((v.name.to_string(), v.broker_value, ConfigSource::Default));
            }
            ConfigEntry {
                name: v.name.to_string(),
                value: Some(v.value),
                source,
                read_only: false,
                type_id: type_id(ConfigType::Int),
                doc: v.doc,
                synonyms,
            }
        })
        .collect()
}

impl From<TopicError> for AdminFailure {
    fn from(e: TopicError) -> Self {
        Self {
            code: map_topic_error(&e),
            message: e.to_string(),
        }
    }
}

/// Kafka's wire id of a config source (DescribeConfigsResponse.ConfigSource).
pub fn source_id(source: ConfigSource) -> i8 {
    match source {
        ConfigSource::DynamicTopic => 1,
        ConfigSource::DynamicBroker => 2,
        ConfigSource::DynamicDefaultBroker => 3,
        ConfigSource::StaticBroker => 4,
        ConfigSource::Default => 5,
        ConfigSource::DynamicGroup => 8,
    }
}

/// Kafka's wire id of a config type (DescribeConfigsResponse.ConfigType).
pub fn type_id(kind: ConfigType) -> i8 {
    match kind {
        ConfigType::Boolean => 1,
        ConfigType::String => 2,
        ConfigType::Int => 3,
        ConfigType::Long => 5,
        ConfigType::Double => 6,
        ConfigType::List => 7,
    }
}

/// Config type id of Kafka's SHORT (not in [`ConfigType`]).
const TYPE_SHORT: i8 = 4;

/// One described config: value, source and the lower-precedence values it hides.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub type_id: i8,
    pub doc: &'static str,
    /// (name, value, source), highest precedence first, including the entry's own.
    pub synonyms: Vec<(String, String, ConfigSource)>,
}

/// The broker-level values behind a topic config, highest precedence first: the dynamic broker
/// config (per-broker or cluster default), the static config, the built-in default.
pub fn broker_synonyms(
    defaults: &BrokerDefaults,
    def: &TopicConfigDef,
) -> Vec<(String, String, ConfigSource)> {
    let mut out = Vec::new();
    if let Some((v, cluster_wide)) = defaults.dynamic.get(def.broker_key) {
        let source = if *cluster_wide {
            ConfigSource::DynamicDefaultBroker
        } else {
            ConfigSource::DynamicBroker
        };
        out.push((def.broker_key.to_string(), v.clone(), source));
    }
    let static_only = BrokerDefaults {
        static_log: defaults.static_log.clone(),
        dynamic: BTreeMap::new(),
    };
    let (v, source) = static_only.topic_default(def);
    if source == ConfigSource::StaticBroker {
        out.push((def.broker_key.to_string(), v, source));
    }
    out.push((
        def.broker_key.to_string(),
        def.default.to_string(),
        ConfigSource::Default,
    ));
    out
}

/// A topic config as described for a topic with `overrides`.
pub fn topic_entry(
    defaults: &BrokerDefaults,
    def: &TopicConfigDef,
    overrides: &BTreeMap<String, String>,
) -> ConfigEntry {
    let (value, source) = defaults.effective(def, overrides);
    let mut synonyms = Vec::new();
    if let Some(v) = overrides.get(def.name) {
        synonyms.push((def.name.to_string(), v.clone(), ConfigSource::DynamicTopic));
    }
    synonyms.extend(broker_synonyms(defaults, def));
    ConfigEntry {
        name: def.name.to_string(),
        value: Some(value),
        source,
        read_only: false,
        type_id: type_id(def.kind),
        doc: def.doc,
        synonyms,
    }
}

/// Broker keys that are not topic defaults but may be set dynamically.
const DYNAMIC_BROKER_ONLY: &[&str] = &["num.partitions", "auto.create.topics.enable"];

/// Checks that `key` may be set dynamically on the broker and that `value` is valid for it.
pub fn validate_dynamic_broker_config(key: &str, value: Option<&str>) -> Result<(), AdminFailure> {
    let Some(value) = value else {
        return Err(AdminFailure::invalid_request(format!(
            "Null value not supported for : {key}"
        )));
    };
    if let Some(def) = topic_config::find_by_broker_key(key) {
        return topic_config::validate(def.name, Some(value)).map_err(|m| {
            AdminFailure::invalid_config(m.replacen(
                &format!("configuration {}", def.name),
                &format!("configuration {key}"),
                1,
            ))
        });
    }
    let invalid = |why: &str| {
        AdminFailure::invalid_config(format!(
            "Invalid value {value} for configuration {key}: {why}"
        ))
    };
    match key {
        "num.partitions" => match value.trim().parse::<i32>() {
            Ok(n) if (1..=100_000).contains(&n) => Ok(()),
            _ => Err(invalid("value must be an integer between 1 and 100000")),
        },
        "auto.create.topics.enable" => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err(invalid("expected true or false")),
        },
        _ => Err(AdminFailure::invalid_request(format!(
            "Cannot update these configs dynamically: Set({key})"
        ))),
    }
}

/// Whether `key` is a broker config that may be changed at run time.
pub fn is_dynamic_broker_key(key: &str) -> bool {
    topic_config::find_by_broker_key(key).is_some() || DYNAMIC_BROKER_ONLY.contains(&key)
}

/// Which level a BROKER resource name addresses: `""` is the cluster-wide default (true), this
/// node's id is this broker (false); anything else is refused as Kafka does.
pub fn broker_level(node_id: i32, resource_name: &str) -> Result<bool, AdminFailure> {
    if resource_name.is_empty() {
        return Ok(true);
    }
    match resource_name.trim().parse::<i32>() {
        Ok(id) if id == node_id => Ok(false),
        Ok(_) => Err(AdminFailure::invalid_request(format!(
            "Unexpected broker id, expected {node_id} or empty string, but received {resource_name}"
        ))),
        Err(_) => Err(AdminFailure::invalid_request(format!(
            "Broker id must be an integer, but it is: {resource_name}"
        ))),
    }
}

/// Serializes read-modify-write of config overrides by the alter handlers, so two concurrent
/// incremental alters of one resource do not lose each other's changes.
static CONFIG_UPDATES: Mutex<()> = parking_lot::const_mutex(());

impl Broker {
    /// Held while reading, merging and writing back a config set.
    pub fn config_update_guard(&self) -> MutexGuard<'static, ()> {
        CONFIG_UPDATES.lock()
    }

    /// The dynamic broker configs set at one level (`cluster_wide` or this broker).
    pub fn dynamic_broker_configs(&self, cluster_wide: bool) -> BTreeMap<String, String> {
        self.metadata
            .defaults
            .read()
            .dynamic
            .iter()
            .filter(|(_, (_, cw))| *cw == cluster_wide)
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }

    /// Replaces the dynamic broker configs of one level, keeping the other level's. A key set on
    /// this broker is kept when the cluster default is replaced (the per-broker value wins).
    pub fn replace_dynamic_broker_configs(
        &self,
        cluster_wide: bool,
        configs: BTreeMap<String, String>,
    ) -> Result<(), TopicError> {
        let mut dynamic: BTreeMap<String, (String, bool)> = self
            .metadata
            .defaults
            .read()
            .dynamic
            .iter()
            .filter(|(_, (_, cw))| *cw != cluster_wide)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in configs {
            if cluster_wide && dynamic.contains_key(&k) {
                continue;
            }
            dynamic.insert(k, (v, cluster_wide));
        }
        self.metadata.set_broker_configs(dynamic)
    }

    /// Every broker config as DescribeConfigs reports it for this broker's id.
    pub fn broker_config_entries(&self) -> Vec<ConfigEntry> {
        let defaults = self.metadata.defaults.read().clone();
        let server = &self.config.server;
        let server_defaults = oxbow_config::ServerConfig::default();
        let log_defaults = oxbow_config::LogDefaults::default();
        let mut out = Vec::new();

        // Kafka's `NAME://host:port` lists: the bound and advertised address of each listener.
        let bracket = |host: String| {
            if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            }
        };
        let bound = self.listeners();
        let (listen, advertised, protocols) = if bound.is_empty() {
            let configured = self.config.listeners();
            let join = |f: &dyn Fn(&oxbow_config::ListenerConfig) -> String| {
                configured.iter().map(f).collect::<Vec<_>>().join(",")
            };
            (
                join(&|l| format!("{}://{}", l.name, l.listen)),
                join(&|l| {
                    let addr = if l.advertised.is_empty() {
                        &l.listen
                    } else {
                        &l.advertised
                    };
                    format!("{}://{addr}", l.name)
                }),
                join(&|l| format!("{}:{}", l.name, l.protocol.name())),
            )
        } else {
            let join = |f: &dyn Fn(&oxbow_net::Listener, std::net::SocketAddr) -> String| {
                bound
                    .iter()
                    .map(|(l, a)| f(l, *a))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            (
                join(&|l, a| format!("{}://{a}", l.name)),
                join(&|l, _| {
                    let (host, port) = l.advertised();
                    format!("{}://{}:{port}", l.name, bracket(host))
                }),
                join(&|l, _| format!("{}:{}", l.name, l.protocol.name())),
            )
        };
        let data_dir = std::fs::canonicalize(self.data_dir())
            .unwrap_or_else(|_| self.data_dir().to_path_buf());
        let read_only =
            |name: &str, value: String, default: Option<String>, type_id: i8, doc: &'static str| {
                let source = if default.as_deref() == Some(value.as_str()) {
                    ConfigSource::Default
                } else {
                    ConfigSource::StaticBroker
                };
                ConfigEntry {
                    name: name.to_string(),
                    synonyms: vec![(name.to_string(), value.clone(), source)],
                    value: Some(value),
                    source,
                    read_only: true,
                    type_id,
                    doc,
                }
            };
        let node = self.node_id.to_string();
        out.push(read_only(
            "advertised.listeners",
            advertised,
            None,
            type_id(ConfigType::String),
            "Listener clients are told to connect to",
        ));
        out.push(read_only(
            "broker.id",
            node.clone(),
            None,
            type_id(ConfigType::Int),
            "This broker's id (same as node.id)",
        ));
        out.push(read_only(
            "default.replication.factor",
            "1".into(),
            Some("1".into()),
            type_id(ConfigType::Int),
            "Single node: always 1",
        ));
        out.push(read_only(
            "listeners",
            listen,
            None,
            type_id(ConfigType::String),
            "Addresses the Kafka listeners bind",
        ));
        out.push(read_only(
            "listener.security.protocol.map",
            protocols,
            None,
            type_id(ConfigType::String),
            "Each listener's security protocol",
        ));
        out.push(read_only(
            "log.dirs",
            data_dir.display().to_string(),
            None,
            type_id(ConfigType::String),
            "The data directory",
        ));
        out.push(read_only(
            "node.id",
            node,
            None,
            type_id(ConfigType::Int),
            "This broker's node id",
        ));
        out.push(read_only(
            "offsets.topic.replication.factor",
            "1".into(),
            Some("1".into()),
            TYPE_SHORT,
            "Single node: always 1",
        ));
        out.push(read_only(
            "socket.request.max.bytes",
            server.max_request_bytes.to_string(),
            Some(server_defaults.max_request_bytes.to_string()),
            type_id(ConfigType::Int),
            "Largest request accepted",
        ));
        out.push(read_only(
            "transaction.state.log.replication.factor",
            "1".into(),
            Some("1".into()),
            TYPE_SHORT,
            "Single node: always 1",
        ));

        let settable =
            |name: &str, static_value: String, default: String, type_id: i8, doc: &'static str| {
                let mut synonyms = Vec::new();
                if let Some((v, cw)) = defaults.dynamic.get(name) {
                    let source = if *cw {
                        ConfigSource::DynamicDefaultBroker
                    } else {
                        ConfigSource::DynamicBroker
                    };
                    synonyms.push((name.to_string(), v.clone(), source));
                }
                if static_value != default {
                    synonyms.push((name.to_string(), static_value, ConfigSource::StaticBroker));
                }
                synonyms.push((name.to_string(), default, ConfigSource::Default));
                let (_, value, source) = synonyms[0].clone();
                ConfigEntry {
                    name: name.to_string(),
                    value: Some(value),
                    source,
                    read_only: false,
                    type_id,
                    doc,
                    synonyms,
                }
            };
        out.push(settable(
            "auto.create.topics.enable",
            defaults.static_log.auto_create_topics.to_string(),
            log_defaults.auto_create_topics.to_string(),
            type_id(ConfigType::Boolean),
            "Metadata and Produce create unknown topics",
        ));
        out.push(settable(
            "num.partitions",
            defaults.static_log.num_partitions.to_string(),
            log_defaults.num_partitions.to_string(),
            type_id(ConfigType::Int),
            "Partitions of auto-created topics and of CreateTopics with -1",
        ));
        for def in topic_config::TOPIC_CONFIGS {
            let synonyms = broker_synonyms(&defaults, def);
            let (_, value, source) = synonyms[0].clone();
            out.push(ConfigEntry {
                name: def.broker_key.to_string(),
                value: Some(value),
                source,
                read_only: false,
                type_id: type_id(def.kind),
                doc: def.doc,
                synonyms,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The cluster-wide dynamic broker configs, as DescribeConfigs reports them for `""`.
    pub fn cluster_default_config_entries(&self) -> Vec<ConfigEntry> {
        let all = self.broker_config_entries();
        let defaults = self.metadata.defaults.read();
        defaults
            .dynamic
            .iter()
            .filter(|(_, (_, cw))| *cw)
            .map(|(k, (v, _))| {
                let known = all.iter().find(|e| e.name == *k);
                let source = ConfigSource::DynamicDefaultBroker;
                let mut synonyms = vec![(k.clone(), v.clone(), source)];
                if let Some(e) = known {
                    synonyms.extend(
                        e.synonyms
                            .iter()
                            .filter(|(_, _, s)| {
                                matches!(s, ConfigSource::StaticBroker | ConfigSource::Default)
                            })
                            .cloned(),
                    );
                }
                ConfigEntry {
                    name: k.clone(),
                    value: Some(v.clone()),
                    source,
                    read_only: false,
                    type_id: known
                        .map(|e| e.type_id)
                        .unwrap_or(type_id(ConfigType::String)),
                    doc: known.map(|e| e.doc).unwrap_or(""),
                    synonyms,
                }
            })
            .collect()
    }
}

/// Asks the authorizer for a config resource, as Kafka does: a topic's configs need
/// DESCRIBE_CONFIGS / ALTER_CONFIGS on the topic, a broker's on the cluster. Other resource
/// types are left to the handler, which refuses those it does not serve.
pub fn authorize_config_resource(
    ctx: &crate::handlers::RequestContext,
    resource_type: i8,
    name: &str,
    operation: Operation,
) -> Result<(), AdminFailure> {
    const TOPIC: i8 = 2;
    const BROKER: i8 = 4;
    match resource_type {
        TOPIC if !ctx.authorize_topic(operation, name) => Err(AdminFailure::new(
            ResponseError::TopicAuthorizationFailed,
            format!("Not authorized for {operation:?} on topic {name}"),
        )),
        BROKER if !ctx.authorize_cluster(operation) => Err(AdminFailure::new(
            ResponseError::ClusterAuthorizationFailed,
            format!("Not authorized for {operation:?} on the cluster"),
        )),
        RESOURCE_GROUP if !ctx.authorize_group(operation, name) => Err(AdminFailure::new(
            ResponseError::GroupAuthorizationFailed,
            format!("Not authorized for {operation:?} on group {name}"),
        )),
        _ => Ok(()),
    }
}

/// Runs `alter` on each resource of an AlterConfigs-style request in order, refusing every
/// resource named more than once ("Duplicate resource.") as Kafka does, and logs each outcome.
pub fn alter_each<R>(
    api: &str,
    ctx: &crate::handlers::RequestContext,
    resources: &[R],
    validate_only: bool,
    key: impl Fn(&R) -> (i8, String),
    mut alter: impl FnMut(&R) -> Result<(), AdminFailure>,
) -> Vec<Result<(), AdminFailure>> {
    let mut count: std::collections::HashMap<(i8, String), usize> =
        std::collections::HashMap::new();
    for r in resources {
        *count.entry(key(r)).or_default() += 1;
    }
    resources
        .iter()
        .map(|r| {
            let (kind, name) = key(r);
            let outcome = if count.get(&(kind, name.clone())).copied().unwrap_or(0) > 1 {
                Err(AdminFailure::invalid_request("Duplicate resource."))
            } else {
                authorize_config_resource(ctx, kind, &name, Operation::AlterConfigs)
                    .and_then(|()| alter(r))
            };
            match &outcome {
                Ok(()) if !validate_only => {
                    tracing::info!(api, kind, resource = %name, peer = %ctx.peer(), client_id = ctx.client_id(), "configs altered");
                    ctx.audit.record(
                        "config_change",
                        &ctx.session,
                        "success",
                        serde_json::json!({"api": api, "resource_type": kind, "resource_name": name}),
                    );
                }
                Ok(()) => {}
                Err(f) => tracing::debug!(api, kind, resource = %name, code = ?f.code, message = f.message, "config change refused"),
            }
            outcome
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_sources_when_encoding_should_use_kafka_ids() {
        assert_eq!(source_id(ConfigSource::DynamicTopic), 1);
        assert_eq!(source_id(ConfigSource::DynamicBroker), 2);
        assert_eq!(source_id(ConfigSource::DynamicDefaultBroker), 3);
        assert_eq!(source_id(ConfigSource::StaticBroker), 4);
        assert_eq!(source_id(ConfigSource::Default), 5);
    }

    #[test]
    fn given_broker_keys_when_validating_should_accept_only_dynamic_ones() {
        assert!(validate_dynamic_broker_config("log.retention.ms", Some("1000")).is_ok());
        let bad = validate_dynamic_broker_config("log.retention.ms", Some("x")).unwrap_err();
        assert_eq!(bad.code, ResponseError::InvalidConfig);
        assert!(bad.message.contains("log.retention.ms"), "{}", bad.message);
        assert!(validate_dynamic_broker_config("num.partitions", Some("3")).is_ok());
        assert_eq!(
            validate_dynamic_broker_config("node.id", Some("3"))
                .unwrap_err()
                .code,
            ResponseError::InvalidRequest
        );
        assert_eq!(broker_level(0, ""), Ok(true));
        assert_eq!(broker_level(0, "0"), Ok(false));
        assert!(broker_level(0, "1").is_err());
    }

    #[test]
    fn given_override_and_dynamic_default_when_describing_should_list_synonyms_in_precedence_order()
    {
        let mut d = BrokerDefaults::default();
        d.dynamic
            .insert("log.retention.ms".into(), ("1000".into(), true));
        let def = topic_config::find("retention.ms").unwrap();
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "5".to_string());
        let e = topic_entry(&d, def, &o);
        assert_eq!(e.value.as_deref(), Some("5"));
        let sources: Vec<ConfigSource> = e.synonyms.iter().map(|s| s.2).collect();
        assert_eq!(
            sources,
            vec![
                ConfigSource::DynamicTopic,
                ConfigSource::DynamicDefaultBroker,
                ConfigSource::Default
            ]
        );
    }
}
