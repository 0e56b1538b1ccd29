//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT (the last two for list-typed configs)
//! merged into a resource's current overrides: a topic's, or the dynamic broker configs of this
//! broker (its id) or of the cluster (`""`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;

use super::{message, versions, Reply, RequestContext};
use crate::admin::{
    alter_each, broker_level, is_dynamic_broker_key, validate_dynamic_broker_config, AdminFailure,
    RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_GROUP, RESOURCE_TOPIC,
};
use crate::broker::TopicError;
use crate::topic_config::{self, BrokerDefaults, ConfigType};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 1);

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> Reply {
    let outcomes = alter_each(
        "IncrementalAlterConfigs",
        ctx,
        &req.resources,
        req.validate_only,
        |r| (r.resource_type, r.resource_name.to_string()),
        |r| alter(broker, r, req.validate_only),
    );
    let responses = req
        .resources
        .iter()
        .zip(outcomes)
        .map(|(resource, outcome)| {
            let mut out = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_error_message(None);
            if let Err(f) = outcome {
                out.error_code = f.code.code();
                out.error_message = message(f.message);
            }
            out
        })
        .collect();
    Reply::Now(ResponseKind::IncrementalAlterConfigs(
        IncrementalAlterConfigsResponse::default().with_responses(responses),
    ))
}

fn alter(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), AdminFailure> {
    preprocess(&resource.configs)?;
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        RESOURCE_TOPIC => {
            let _guard = broker.config_update_guard();
            let state = broker
                .topic(name)
                .ok_or_else(|| AdminFailure::from(TopicError::Unknown(name.to_string())))?;
            let defaults = broker.metadata.defaults.read().clone();
            let mut configs = state.meta.configs.clone();
            for op in &resource.configs {
                let key = op.name.as_str();
                let def = topic_config::find(key).ok_or_else(|| {
                    AdminFailure::invalid_config(format!("Unknown topic config name: {key}"))
                })?;
                let current = || defaults.topic_default(def).0;
                apply(&mut configs, key, def.kind, op, current)?;
            }
            Ok(broker
                .metadata
                .set_topic_configs(name, configs, validate_only)?)
        }
        RESOURCE_BROKER => {
            let cluster_wide = broker_level(broker.node_id, name)?;
            let refused: Vec<&str> = resource
                .configs
                .iter()
                .map(|c| c.name.as_str())
                .filter(|k| !is_dynamic_broker_key(k))
                .collect();
            if !refused.is_empty() {
                return Err(AdminFailure::invalid_request(format!(
                    "Cannot update these configs dynamically: Set({})",
                    refused.join(", ")
                )));
            }
            let _guard = broker.config_update_guard();
            let mut configs = broker.dynamic_broker_configs(cluster_wide);
            let static_only = BrokerDefaults {
                static_log: broker.metadata.defaults.read().static_log.clone(),
                dynamic: BTreeMap::new(),
            };
            for op in &resource.configs {
                let key = op.name.as_str();
                let def = topic_config::find_by_broker_key(key);
                let kind = def.map_or(ConfigType::String, |d| d.kind);
                let current = || {
                    def.map(|d| static_only.topic_default(d).0)
                        .unwrap_or_default()
                };
                apply(&mut configs, key, kind, op, current)?;
            }
            for (k, v) in &configs {
                validate_dynamic_broker_config(k, Some(v))?;
            }
            if validate_only {
                return Ok(());
            }
            Ok(broker.replace_dynamic_broker_configs(cluster_wide, configs)?)
        }
        RESOURCE_GROUP => {
            crate::group_configs::check_group(name)?;
            let _guard = broker.config_update_guard();
            let mut configs = broker.group_configs.get(name);
            for op in &resource.configs {
                let key = op.name.as_str();
                crate::group_configs::check_key(key)?;
                apply(&mut configs, key, ConfigType::Int, op, String::new)?;
            }
            broker
                .group_configs
                .replace(broker.groups.config(), name, configs, validate_only)?;
            if !validate_only {
                broker
                    .groups
                    .set_overrides(broker.group_configs.overrides());
            }
            Ok(())
        }
        RESOURCE_BROKER_LOGGER => Err(AdminFailure::invalid_request(
            "BROKER_LOGGER resources are not supported",
        )),
        other => Err(AdminFailure::invalid_request(format!(
            "Unsupported resource type: {other}"
        ))),
    }
}

/// Kafka's request-level checks: no null value except for DELETE, no key twice, known operations.
fn preprocess(ops: &[AlterableConfig]) -> Result<(), AdminFailure> {
    let nulls: Vec<String> = ops
        .iter()
        .filter(|c| c.value.is_none() && c.config_operation != OP_DELETE)
        .map(|c| format!("{}:{}", c.name.as_str(), c.config_operation))
        .collect();
    if !nulls.is_empty() {
        return Err(AdminFailure::invalid_request(format!(
            "Null value not supported for : {}",
            nulls.join(",")
        )));
    }
    let mut keys = HashSet::new();
    if !ops.iter().all(|c| keys.insert(c.name.as_str())) {
        return Err(AdminFailure::invalid_request(
            "Error due to duplicate config keys",
        ));
    }
    if let Some(bad) = ops
        .iter()
        .find(|c| !(OP_SET..=OP_SUBTRACT).contains(&c.config_operation))
    {
        return Err(AdminFailure::invalid_request(format!(
            "Unknown alter config operation: {}",
            bad.config_operation
        )));
    }
    Ok(())
}

/// Applies one operation to an override set. `current` gives the value APPEND and SUBTRACT start
/// from when the key has no override.
fn apply(
    configs: &mut BTreeMap<String, String>,
    key: &str,
    kind: ConfigType,
    op: &AlterableConfig,
    current: impl FnOnce() -> String,
) -> Result<(), AdminFailure> {
    let value = op.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
    match op.config_operation {
        OP_SET => {
            configs.insert(key.to_string(), value);
        }
        OP_DELETE => {
            configs.remove(key);
        }
        OP_APPEND | OP_SUBTRACT => {
            let verb = if op.config_operation == OP_APPEND {
                "append"
            } else {
                "subtract"
            };
            if kind != ConfigType::List {
                return Err(AdminFailure::invalid_config(format!(
                    "Config value {verb} is not allowed for config key: {key}"
                )));
            }
            let base = configs.get(key).cloned().unwrap_or_else(current);
            let mut list = split_list(&base);
            let items = split_list(&value);
            if op.config_operation == OP_APPEND {
                for item in items {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
            } else {
                list.retain(|x| !items.contains(x));
            }
            configs.insert(key.to_string(), list.join(","));
        }
        other => {
            return Err(AdminFailure::invalid_request(format!(
                "Unknown alter config operation: {other}"
            )))
        }
    }
    Ok(())
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::StrBytes;

    fn op(key: &str, operation: i8, value: Option<&str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(key.to_string()))
            .with_config_operation(operation)
            .with_value(value.map(|v| StrBytes::from_string(v.to_string())))
    }

    #[test]
    fn given_list_ops_when_applying_should_append_and_subtract_items() {
        let mut c = BTreeMap::new();
        apply(
            &mut c,
            "cleanup.policy",
            ConfigType::List,
            &op("cleanup.policy", OP_APPEND, Some("compact")),
            || "delete".into(),
        )
        .unwrap();
        assert_eq!(c["cleanup.policy"], "delete,compact");
        apply(
            &mut c,
            "cleanup.policy",
            ConfigType::List,
            &op("cleanup.policy", OP_SUBTRACT, Some("delete")),
            || "x".into(),
        )
        .unwrap();
        assert_eq!(c["cleanup.policy"], "compact");
        let e = apply(
            &mut c,
            "retention.ms",
            ConfigType::Long,
            &op("retention.ms", OP_APPEND, Some("1")),
            String::new,
        )
        .unwrap_err();
        assert_eq!(e.code, kafka_protocol::ResponseError::InvalidConfig);
    }

    #[test]
    fn given_bad_requests_when_preprocessing_should_refuse() {
        assert!(preprocess(&[op("a", OP_SET, None)]).is_err());
        assert!(preprocess(&[op("a", OP_DELETE, None)]).is_ok());
        assert!(preprocess(&[op("a", OP_SET, Some("1")), op("a", OP_DELETE, None)]).is_err());
        assert!(preprocess(&[op("a", 9, Some("1"))]).is_err());
    }
}
