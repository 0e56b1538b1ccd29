//! Metadata: brokers, cluster id, controller, and topics with their partitions. Unknown topics are
//! created when the client allows it and `auto.create.topics.enable` is on.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::{info, warn};

use super::{topic_name, versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::broker::TopicError;
use crate::error_map::map_topic_error;
use crate::topics::TopicState;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 13);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: MetadataRequest) -> Reply {
    let version = ctx.api_version;
    let (host, port) = ctx.session.listener.advertised();
    let node = BrokerId(broker.node_id);
    let mut resp = MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(host))
            .with_port(port)])
        .with_controller_id(if version >= 1 { node } else { BrokerId(-1) });
    if version >= 2 {
        resp.cluster_id = Some(StrBytes::from_string(broker.cluster_id.clone()));
    }
    let auto_create = (version < 4 || req.allow_auto_topic_creation)
        && broker.metadata.defaults.read().auto_create_topics();
    let include_ops = version >= 8 && req.include_topic_authorized_operations;
    // v8-v10 carry the cluster's operations too (later versions moved them to DescribeCluster);
    // librdkafka's DescribeCluster admin call asks for them here.
    if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
        resp.cluster_authorized_operations = super::describe_cluster::cluster_operations(ctx);
    }

    let all = match &req.topics {
        None => true,
        Some(t) => t.is_empty() && version == 0,
    };
    let mut topics = Vec::new();
    if all {
        // As Kafka: a listing shows only the topics the principal may describe.
        for t in broker.metadata.topics.all() {
            if ctx.may_list(Operation::Describe, ResourceType::Topic, &t.meta.name) {
                topics.push(describe(ctx, &t, broker.node_id, version, include_ops));
            }
        }
    } else {
        for requested in req.topics.unwrap_or_default() {
            let by_name = requested.name.as_ref().map(|n| n.0.to_string());
            let state = match &by_name {
                Some(name) => broker.topic(name),
                None => broker.metadata.topics.get_by_id(&requested.topic_id),
            };
            let described = |name: &str| ctx.authorize_topic(Operation::Describe, name);
            let topic = match (state, by_name) {
                (Some(state), _) if !described(&state.meta.name) => error_topic(
                    requested.name.as_ref().map(|n| n.0.as_str()),
                    requested.topic_id,
                    ResponseError::TopicAuthorizationFailed,
                ),
                (Some(state), _) => describe(ctx, &state, broker.node_id, version, include_ops),
                (None, Some(name)) if !described(&name) => error_topic(
                    Some(&name),
                    uuid::Uuid::nil(),
                    ResponseError::TopicAuthorizationFailed,
                ),
                (None, None) => {
                    error_topic(None, requested.topic_id, ResponseError::UnknownTopicId)
                }
                (None, Some(name))
                    if auto_create
                        && (ctx.authorize_cluster(Operation::Create)
                            || ctx.authorize_topic(Operation::Create, &name)) =>
                {
                    auto_create_topic(broker, ctx, &name, version, include_ops)
                }
                (None, Some(name)) => {
                    let code = match crate::topics::validate_name(&name) {
                        Ok(()) => ResponseError::UnknownTopicOrPartition,
                        Err(_) => ResponseError::InvalidTopicException,
                    };
                    error_topic(Some(&name), uuid::Uuid::nil(), code)
                }
            };
            topics.push(topic);
        }
    }
    resp.topics = topics;
    Reply::Now(ResponseKind::Metadata(resp))
}

fn auto_create_topic(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    name: &str,
    version: i16,
    include_ops: bool,
) -> MetadataResponseTopic {
    // An internal topic asked for before its coordinator made it is made as the coordinator
    // would (compacted, one partition), as Kafka does, not as an ordinary topic.
    let internal = match name {
        "__consumer_offsets" => Some(oxbow_coordinator::OFFSETS_TOPIC_CONFIGS),
        "__transaction_state" => Some(oxbow_coordinator::transaction::TRANSACTION_STATE_CONFIGS),
        _ => None,
    };
    let created = match internal {
        Some(configs) => {
            use oxbow_coordinator::context::CoordinatorContext;
            broker
                .create_internal_topic(name, configs)
                .map_err(TopicError::InvalidConfig)
        }
        None => broker
            .metadata
            .create_topic(name, -1, -1, BTreeMap::new(), false)
            .map(|_| ()),
    };
    match created {
        Ok(_) | Err(TopicError::AlreadyExists(_)) => {
            info!(topic = name, peer = %ctx.peer(), client_id = ctx.client_id(), "auto-created topic");
            match broker.topic(name) {
                Some(state) => describe(ctx, &state, broker.node_id, version, include_ops),
                None => error_topic(
                    Some(name),
                    uuid::Uuid::nil(),
                    ResponseError::UnknownTopicOrPartition,
                ),
            }
        }
        Err(e) => {
            warn!(topic = name, peer = %ctx.peer(), error = %e, "auto-creating topic failed");
            error_topic(Some(name), uuid::Uuid::nil(), map_topic_error(&e))
        }
    }
}

fn describe(
    ctx: &RequestContext,
    state: &TopicState,
    node_id: i32,
    version: i16,
    include_ops: bool,
) -> MetadataResponseTopic {
    let node = BrokerId(node_id);
    let partitions = (0..state.meta.partitions)
        .map(|p| {
            let mut part = MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node]);
            if version >= 7 {
                part.leader_epoch = 0;
            }
            part
        })
        .collect();
    let mut topic = MetadataResponseTopic::default()
        .with_name(Some(topic_name(&state.meta.name)))
        .with_partitions(partitions);
    if version >= 1 {
        topic.is_internal = state.is_internal();
    }
    if version >= 10 {
        topic.topic_id = state.meta.id;
    }
    if include_ops {
        topic.topic_authorized_operations =
            ctx.authorized_operations(ResourceType::Topic, &state.meta.name);
    }
    topic
}

fn error_topic(name: Option<&str>, id: uuid::Uuid, code: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name.map(topic_name))
        .with_topic_id(id)
}
