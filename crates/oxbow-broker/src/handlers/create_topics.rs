//! CreateTopics: validate each topic (name, existence, partitions, replication, manual assignment,
//! configs) and create it, or with `validate_only` only check. From v5 a created topic's partition
//! count, replication factor and effective configs are returned; from v7 its id.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::{debug, info};

use super::{message, topic_name, versions, Reply, RequestContext};
use crate::admin::{source_id, topic_entry, AdminFailure};
use crate::authorizer::Operation;
use crate::topic_config::TOPIC_CONFIGS;
use crate::topics::{validate_name, TopicMeta};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 7);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: CreateTopicsRequest) -> Reply {
    let version = ctx.api_version;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut answered = std::collections::HashSet::new();
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let name = topic.name.0.to_string();
        if !answered.insert(name.clone()) {
            continue;
        }
        let outcome = if seen.get(&name).copied().unwrap_or(0) > 1 {
            Err(AdminFailure::invalid_request("Duplicate topic name."))
        } else if !ctx.authorize_cluster(Operation::Create)
            && !ctx.authorize_topic(Operation::Create, &name)
        {
            Err(AdminFailure::new(
                ResponseError::TopicAuthorizationFailed,
                format!("Not authorized to create topic {name}"),
            ))
        } else {
            // Creates log directories and fsyncs them: off the async threads.
            oxbow_storage::blocking(|| create(broker, &name, topic, req.validate_only))
        };
        let mut result = CreatableTopicResult::default()
            .with_name(topic_name(&name))
            .with_error_message(None);
        match outcome {
            Ok(meta) => {
                if !req.validate_only {
                    info!(topic = name, partitions = meta.partitions, peer = %ctx.peer(), client_id = ctx.client_id(), "CreateTopics created topic");
                    ctx.audit.record(
                        "topic_create",
                        &ctx.session,
                        "success",
                        serde_json::json!({"topic": name, "partitions": meta.partitions}),
                    );
                }
                if version >= 5 {
                    result.num_partitions = meta.partitions;
                    result.replication_factor = 1;
                    result.configs = Some(effective_configs(broker, &meta));
                }
                if version >= 7 {
                    result.topic_id = meta.id;
                }
            }
            Err(f) => {
                debug!(topic = name, code = ?f.code, message = f.message, "CreateTopics refused");
                result.error_code = f.code.code();
                result.error_message = message(f.message);
            }
        }
        results.push(result);
    }
    Reply::Now(ResponseKind::CreateTopics(
        CreateTopicsResponse::default().with_topics(results),
    ))
}

fn create(
    broker: &Broker,
    name: &str,
    topic: CreatableTopic,
    validate_only: bool,
) -> Result<TopicMeta, AdminFailure> {
    validate_name(name).map_err(|m| AdminFailure::new(ResponseError::InvalidTopicException, m))?;
    if broker.topic(name).is_some() {
        return Err(AdminFailure::new(
            ResponseError::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
        ));
    }
    let (partitions, replication) = if topic.assignments.is_empty() {
        (topic.num_partitions, topic.replication_factor)
    } else {
        if topic.num_partitions != -1 {
            return Err(AdminFailure::invalid_request(
                "A manual partition assignment was specified, but numPartitions was not set to -1.",
            ));
        }
        if topic.replication_factor != -1 {
            return Err(AdminFailure::invalid_request(
                "A manual partition assignment was specified, but replicationFactor was not set to -1.",
            ));
        }
        (check_assignments(broker.node_id, &topic.assignments)?, 1)
    };
    if partitions == 0 || partitions < -1 {
        return Err(AdminFailure::new(
            ResponseError::InvalidPartitions,
            format!("Number of partitions was set to an invalid value {partitions}: it must be -1 or at least 1."),
        ));
    }
    if replication == 0 || replication < -1 {
        return Err(AdminFailure::new(
            ResponseError::InvalidReplicationFactor,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        ));
    }
    let mut configs = BTreeMap::new();
    for c in topic.configs {
        let key = c.name.to_string();
        let Some(value) = c.value else {
            return Err(AdminFailure::invalid_config(format!(
                "Null value not supported for topic configs: {key}"
            )));
        };
        configs.insert(key, value.to_string());
    }
    Ok(broker
        .metadata
        .create_topic(name, partitions, replication, configs, validate_only)?)
}

/// Checks a manual assignment (every partition on exactly this node, indexes 0..n) and returns n.
fn check_assignments(
    node_id: i32,
    assignments: &[CreatableReplicaAssignment],
) -> Result<i32, AdminFailure> {
    let bad = |m: String| AdminFailure::new(ResponseError::InvalidReplicaAssignment, m);
    let mut indexes = std::collections::BTreeSet::new();
    for a in assignments {
        if !indexes.insert(a.partition_index) {
            return Err(bad(format!(
                "Found multiple manual partition assignments for partition {}",
                a.partition_index
            )));
        }
        check_replicas(node_id, a.broker_ids.iter().map(|b| b.0)).map_err(bad)?;
    }
    let n = i32::try_from(indexes.len()).unwrap_or(i32::MAX);
    if indexes.iter().copied().ne(0..n) {
        return Err(bad(
            "Partitions should be a consecutive 0-based integer sequence".into(),
        ));
    }
    Ok(n)
}

/// A replica list of a manual assignment must be exactly `[node_id]` on a single node.
pub fn check_replicas(node_id: i32, replicas: impl Iterator<Item = i32>) -> Result<(), String> {
    let replicas: Vec<i32> = replicas.collect();
    if replicas.is_empty() {
        return Err("The manual partition assignment includes an empty replica list.".into());
    }
    for (i, r) in replicas.iter().enumerate() {
        if replicas[..i].contains(r) {
            return Err(format!(
                "The manual partition assignment includes the broker {r} more than once."
            ));
        }
        if *r != node_id {
            return Err(format!(
                "The manual partition assignment includes broker {r}, but no broker with that ID is registered."
            ));
        }
    }
    Ok(())
}

fn effective_configs(broker: &Broker, meta: &TopicMeta) -> Vec<CreatableTopicConfigs> {
    let defaults = broker.metadata.defaults.read();
    TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let e = topic_entry(&defaults, def, &meta.configs);
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_string(e.name))
                .with_value(e.value.map(StrBytes::from_string))
                .with_read_only(false)
                .with_config_source(source_id(e.source))
                .with_is_sensitive(false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::BrokerId;

    fn assignment(p: i32, brokers: &[i32]) -> CreatableReplicaAssignment {
        CreatableReplicaAssignment::default()
            .with_partition_index(p)
            .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
    }

    #[test]
    fn given_manual_assignments_when_checking_should_require_this_node_and_dense_indexes() {
        assert_eq!(
            check_assignments(0, &[assignment(0, &[0]), assignment(1, &[0])]),
            Ok(2)
        );
        assert!(check_assignments(0, &[assignment(0, &[0]), assignment(2, &[0])]).is_err());
        assert!(check_assignments(0, &[assignment(0, &[0]), assignment(0, &[0])]).is_err());
        assert!(check_assignments(0, &[assignment(0, &[1])]).is_err());
        assert!(check_assignments(0, &[assignment(0, &[0, 0])]).is_err());
        assert!(check_assignments(0, &[assignment(0, &[])]).is_err());
    }
}
