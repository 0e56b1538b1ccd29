//! DescribeConfigs: a topic's every config with its effective value and source, or this broker's
//! configs (its id), or the cluster-wide dynamic broker defaults (`""`). Synonyms (v1+) list the
//! values hidden by precedence; documentation and types come from v3.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::debug;

use super::{message, versions, Reply, RequestContext};
use crate::admin::{
    broker_level, source_id, topic_entry, AdminFailure, ConfigEntry, RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER, RESOURCE_GROUP, RESOURCE_TOPIC,
};
use crate::authorizer::Operation;
use crate::topic_config::{ConfigSource, ConfigType, TOPIC_CONFIGS};
use crate::topics::validate_name;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 4);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> Reply {
    let version = ctx.api_version;
    let include_docs = version >= 3 && req.include_documentation;
    let mut results = Vec::with_capacity(req.resources.len());
    for resource in req.resources {
        let mut out = DescribeConfigsResult::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone())
            .with_error_message(None);
        let allowed = crate::admin::authorize_config_resource(
            ctx,
            resource.resource_type,
            resource.resource_name.as_str(),
            Operation::DescribeConfigs,
        );
        match allowed.and_then(|()| entries(broker, &resource)) {
            Ok(entries) => {
                let wanted = resource
                    .configuration_keys
                    .as_ref()
                    .filter(|keys| !keys.is_empty());
                out.configs = entries
                    .into_iter()
                    .filter(|e| match wanted {
                        None => true,
                        Some(keys) => keys.iter().any(|k| k.as_str() == e.name),
                    })
                    .map(|e| encode(e, version, req.include_synonyms, include_docs))
                    .collect();
            }
            Err(f) => {
                debug!(resource = %resource.resource_name.as_str(), kind = resource.resource_type, code = ?f.code, message = f.message, "DescribeConfigs refused");
                out.error_code = f.code.code();
                out.error_message = message(f.message);
            }
        }
        results.push(out);
    }
    Reply::Now(ResponseKind::DescribeConfigs(
        DescribeConfigsResponse::default().with_results(results),
    ))
}

fn entries(
    broker: &Broker,
    resource: &DescribeConfigsResource,
) -> Result<Vec<ConfigEntry>, AdminFailure> {
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        RESOURCE_TOPIC => {
            validate_name(name)
                .map_err(|m| AdminFailure::new(ResponseError::InvalidTopicException, m))?;
            let state = broker.topic(name).ok_or_else(|| {
                AdminFailure::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic '{name}' does not exist."),
                )
            })?;
            let defaults = broker.metadata.defaults.read();
            let mut out: Vec<ConfigEntry> = TOPIC_CONFIGS
                .iter()
                .map(|def| topic_entry(&defaults, def, &state.meta.configs))
                .collect();
            let asked = resource
                .configuration_keys
                .as_ref()
                .is_some_and(|keys| keys.iter().any(|k| k.as_str().starts_with(CLEANER_PREFIX)));
            let compacted = state
                .partitions
                .iter()
                .any(|p| p.log.config().cleanup_policy.compact);
            if asked || compacted {
                out.extend(cleaner_entries(&state.partitions));
            }
            Ok(out)
        }
        RESOURCE_BROKER => {
            if broker_level(broker.node_id, name)? {
                Ok(broker.cluster_default_config_entries())
            } else {
                Ok(broker.broker_config_entries())
            }
        }
        RESOURCE_GROUP => {
            crate::group_configs::check_group(name)?;
            Ok(crate::admin::group_config_entries(
                broker.group_configs.values(broker.groups.config(), name),
            ))
        }
        RESOURCE_BROKER_LOGGER => Err(AdminFailure::invalid_request(
            "BROKER_LOGGER resources are not supported",
        )),
        other => Err(AdminFailure::invalid_request(format!(
            "Unsupported resource type: {other}"
        ))),
    }
}

/// Prefix of the read-only cleaner metrics Oxbow adds to a topic's configs (`oxbow topic describe`).
pub const CLEANER_PREFIX: &str = "oxbow.cleaner.";

/// The log cleaner's metrics for a topic, over its partitions: the highest dirty ratio, the most
/// recent cleaning (and how long it took), the bytes read and written. -1 = never cleaned.
fn cleaner_entries(partitions: &[Arc<crate::partition::Partition>]) -> Vec<ConfigEntry> {
    let (mut ratio, mut last, mut duration, mut read, mut written) =
        (0f64, -1i64, -1i64, 0u64, 0u64);
    for p in partitions {
        let m = p.log.cleaner_metrics();
        ratio = ratio.max(m.dirty_ratio);
        if m.last_clean_ms > last {
            (last, duration) = (m.last_clean_ms, m.last_duration_ms);
        }
        read += m.bytes_read;
        written += m.bytes_written;
    }
    let entry = |name: &str, value: String, type_id: ConfigType| ConfigEntry {
        name: format!("{CLEANER_PREFIX}{name}"),
        value: Some(value),
        source: ConfigSource::Default,
        read_only: true,
        type_id: type_id as i8,
        doc: "Log cleaner metric (read-only, Oxbow-specific)",
        synonyms: Vec::new(),
    };
    vec![
        entry("dirty.ratio", format!("{ratio:.4}"), ConfigType::Double),
        entry("last.clean.ms", last.to_string(), ConfigType::Long),
        entry("last.duration.ms", duration.to_string(), ConfigType::Long),
        entry("bytes.read", read.to_string(), ConfigType::Long),
        entry("bytes.written", written.to_string(), ConfigType::Long),
    ]
}

fn encode(
    e: ConfigEntry,
    version: i16,
    include_synonyms: bool,
    include_docs: bool,
) -> DescribeConfigsResourceResult {
    let mut out = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(e.name))
        .with_value(e.value.map(StrBytes::from_string))
        .with_read_only(e.read_only)
        .with_config_source(source_id(e.source))
        .with_is_sensitive(false);
    if include_synonyms {
        out.synonyms = e
            .synonyms
            .into_iter()
            .map(|(name, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(name))
                    .with_value(Some(StrBytes::from_string(value)))
                    .with_source(source_id(source))
            })
            .collect();
    }
    if version >= 3 {
        out.config_type = e.type_id;
        out.documentation = if include_docs {
            Some(StrBytes::from_static_str(e.doc))
        } else {
            None
        };
    }
    out
}
