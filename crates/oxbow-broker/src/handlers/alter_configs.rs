//! AlterConfigs (the legacy, non-incremental form): each resource's given configs replace its
//! whole override set. TOPIC resources set topic overrides; BROKER resources set dynamic broker
//! configs for this broker (its id) or cluster-wide (`""`).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;

use super::{message, versions, Reply, RequestContext};
use crate::admin::{
    alter_each, broker_level, validate_dynamic_broker_config, AdminFailure, RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC,
};
use crate::broker::TopicError;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 2);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: AlterConfigsRequest) -> Reply {
    let outcomes = alter_each(
        "AlterConfigs",
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
    Reply::Now(ResponseKind::AlterConfigs(
        AlterConfigsResponse::default().with_responses(responses),
    ))
}

fn alter(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), AdminFailure> {
    let name = resource.resource_name.as_str();
    let mut configs = BTreeMap::new();
    for c in &resource.configs {
        let key = c.name.to_string();
        let Some(value) = &c.value else {
            return Err(AdminFailure::invalid_request(format!(
                "Null value not supported for : {key}"
            )));
        };
        if configs.insert(key, value.to_string()).is_some() {
            return Err(AdminFailure::invalid_request(
                "Error due to duplicate config keys",
            ));
        }
    }
    match resource.resource_type {
        RESOURCE_TOPIC => {
            if broker.topic(name).is_none() {
                return Err(TopicError::Unknown(name.to_string()).into());
            }
            let _guard = broker.config_update_guard();
            Ok(broker
                .metadata
                .set_topic_configs(name, configs, validate_only)?)
        }
        RESOURCE_BROKER => {
            let cluster_wide = broker_level(broker.node_id, name)?;
            let refused: Vec<&str> = configs
                .keys()
                .map(String::as_str)
                .filter(|k| !crate::admin::is_dynamic_broker_key(k))
                .collect();
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
        RESOURCE_BROKER_LOGGER => Err(AdminFailure::invalid_request(
            "BROKER_LOGGER resources are not supported",
        )),
        other => Err(AdminFailure::invalid_request(format!(
            "Unsupported resource type: {other}"
        ))),
    }
}
