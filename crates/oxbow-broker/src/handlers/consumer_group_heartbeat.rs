//! ConsumerGroupHeartbeat (KIP-848): join, stay, reconcile and leave in one API. Topics travel as
//! topic ids; the coordinator works with names.

use std::sync::Arc;

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, ResponseKind,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tracing::debug;

use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;
use kafka_protocol::ResponseError;
use oxbow_coordinator::assignor;
use oxbow_coordinator::consumer_group::HeartbeatParams;

pub const VERSIONS: VersionRange = versions(0, 1);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> Reply {
    let group_id = req.group_id.0.to_string();
    let owned = req.topic_partitions.as_ref().map(|tps| {
        let mut a = assignor::Assignment::new();
        for tp in tps {
            if let Some(t) = broker.metadata.topics.get_by_id(&tp.topic_id) {
                a.entry(t.meta.name.clone())
                    .or_default()
                    .extend(tp.partitions.iter().copied());
            }
        }
        a
    });
    let params = HeartbeatParams {
        member_id: req.member_id.to_string(),
        epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: req.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed: req
            .subscribed_topic_names
            .as_ref()
            .map(|ts| ts.iter().map(|t| t.0.to_string()).collect()),
        regex: req
            .subscribed_topic_regex
            .as_ref()
            .map(|s| s.to_string())
            .filter(|_| ctx.api_version >= 1),
        server_assignor: req.server_assignor.as_ref().map(|s| s.to_string()),
        owned,
        client_id: ctx.client_id().to_string(),
        client_host: format!("/{}", ctx.peer().ip()),
    };
    if !ctx.authorize_group(Operation::Read, &group_id) {
        return Reply::Now(ResponseKind::ConsumerGroupHeartbeat(
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "Not authorized to read the group",
                ))),
        ));
    }
    let out = broker
        .groups
        .consumer_heartbeat(&**broker, &group_id, params);
    if let Some(e) = out.error {
        debug!(group = group_id, member = out.member_id, client_id = ctx.client_id(), peer = %ctx.peer(), error = ?e, "consumer heartbeat error");
    }
    let mut resp = ConsumerGroupHeartbeatResponse::default()
        .with_error_code(out.error.map_or(0, |e| e.code()))
        .with_error_message(out.message.map(StrBytes::from_string))
        .with_member_id(Some(StrBytes::from_string(out.member_id)))
        .with_member_epoch(out.epoch)
        .with_heartbeat_interval_ms(broker.groups.consumer_heartbeat_interval_ms(&group_id));
    if out.error.is_none() {
        resp.assignment = out.assignment.map(|a| {
            let tps = a
                .into_iter()
                .filter_map(|(t, ps)| {
                    let id = broker.topic(&t)?.meta.id;
                    Some(
                        TopicPartitions::default()
                            .with_topic_id(id)
                            .with_partitions(ps.into_iter().collect()),
                    )
                })
                .collect();
            Assignment::default().with_topic_partitions(tps)
        });
    }
    Reply::Now(ResponseKind::ConsumerGroupHeartbeat(resp))
}
