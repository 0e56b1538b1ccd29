//! Heartbeat (classic protocol): keeps a member alive; REBALANCE_IN_PROGRESS asks it to rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use tracing::debug;

use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;
use kafka_protocol::ResponseError;

pub const VERSIONS: VersionRange = versions(0, 4);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: HeartbeatRequest) -> Reply {
    let group_id = req.group_id.0.to_string();
    let instance = req.group_instance_id.as_ref().map(|s| s.to_string());
    if !ctx.authorize_group(Operation::Read, &group_id) {
        return Reply::Now(ResponseKind::Heartbeat(
            HeartbeatResponse::default()
                .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        ));
    }
    let error = broker.groups.heartbeat(
        &**broker,
        &group_id,
        req.member_id.as_str(),
        instance.as_deref(),
        req.generation_id,
    );
    if let Some(e) = error {
        debug!(group = group_id, member = %req.member_id.as_str(), client_id = ctx.client_id(), peer = %ctx.peer(), error = ?e, "heartbeat answered with error");
    }
    Reply::Now(ResponseKind::Heartbeat(
        HeartbeatResponse::default().with_error_code(error.map_or(0, |e| e.code())),
    ))
}
