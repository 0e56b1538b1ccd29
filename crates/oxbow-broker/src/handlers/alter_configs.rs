//! AlterConfigs (the legacy, non-incremental form): each resource's given configs replace its
//! whole override set. TOPIC resources set topic overrides; BROKER resources set dynamic broker
//! configs for this broker (its id) or cluster-wide (`""`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use tracing::{debug, info};

use super::{message, versions, Reply, RequestContext};
use crate::admin::{
    broker_level, validate_dynamic_broker_config, AdminFailure, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC,
};
use crate::broker::TopicError;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 2);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: AlterConfigsRequest) -> Reply {
    let mut count: HashMap<(i8, String), usize> = HashMap::new();
    for r in &req.resources {
        *count.entry((r.resource_type, r.resource_name.to_string())).or_default() += 1;
    }
    let mut responses = Vec::with_capacity(req.resources.len());
    for resource in req.resources {
        let key = (resource.resource_type, resource.resource_name.to_string());
        let outcome = if count.get(&key).copied().unwrap_or(0) > 1 {
            Err(AdminFailure::invalid_request("Duplicate resource."))
        } else {
            alter(broker, &resource, req.validate_only)
        };
        let mut out = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone())
            .with_error_message(None);
        match outcome {
            Ok(()) => {
                if !req.validate_only {
                    info!(kind = resource.resource_type, resource = %resource.resource_name.as_str(), peer = %ctx.peer, client_id = ctx.client_id, "AlterConfigs applied");
                }
            }
            Err(f) => {
                debug!(kind = resource.resource_type, resource = %resource.resource_name.as_str(), code = ?f.code, message = f.message, "AlterConfigs refused");
                out.error_code = f.code.code();
                out.error_message = message(f.message);
            }
        }
        responses.push(out);
    }
    Reply::Now(ResponseKind::AlterConfigs(AlterConfigsResponse::default().with_responses(responses)))
}

fn alter(broker: &Broker, resource: &AlterConfigsResource, validate_only: bool) -> Result<(), AdminFailure> {
    let name = resource.resource_name.as_str();
    let mut configs = BTreeMap::new();
    for c in &resource.configs {
        let key = c.name.to_string();
        let Some(value) = &c.value else {
            return Err(AdminFailure::invalid_request(format!("Null value not supported for : {key}")));
        };
        if configs.insert(key, value.to_string()).is_some() {
            return Err(AdminFailure::invalid_request("Error due to duplicate config keys"));
        }
    }
    match resource.resource_type {
        RESOURCE_TOPIC => {
            if broker.topic(name).is_none() {
                return Err(TopicError::Unknown(name.to_string()).into());
            }
            let _guard = broker.config_update_guard();
            Ok(broker.set_topic_configs(name, configs, validate_only)?)
        }
        RESOURCE_BROKER => {
            let cluster_wide = broker_level(broker.node_id, name)?;
            let refused: Vec<&str> =
                configs.keys().map(String::as_str).filter(|k| !crate::admin::is_dynamic_broker_key(k)).collect();
            if !refused.is_empty() {
                return Err(AdminFailure::invalid_request(format!(
                    "Cannot update these configs dynamically: Set({})",
                    refused.join(", ")
                )));
            }
            for (k, v) in &configs {
                validate_dynamic_broker_config(k, Some(v))?;
            }
            if validate_only {
                return Ok(());
            }
            let _guard = broker.config_update_guard();
            Ok(broker.replace_dynamic_broker_configs(cluster_wide, configs)?)
        }
        RESOURCE_BROKER_LOGGER => Err(AdminFailure::invalid_request("BROKER_LOGGER resources are not supported")),
        other => Err(AdminFailure::invalid_request(format!("Unsupported resource type: {other}"))),
    }
}
