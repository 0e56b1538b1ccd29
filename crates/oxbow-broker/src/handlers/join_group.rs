//! JoinGroup (classic protocol): answered when the join phase completes, so the reply comes later
//! while the connection keeps reading (heartbeats of other members must not wait behind it).

use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::debug;

use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;
use oxbow_coordinator::classic::{JoinOutcome, JoinParams, Pending};

pub const VERSIONS: VersionRange = versions(0, 9);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: JoinGroupRequest) -> Reply {
    let version = ctx.api_version;
    let group_id = req.group_id.0.to_string();
    let params = JoinParams {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: ctx.client_id().to_string(),
        client_host: format!("/{}", ctx.peer().ip()),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    debug!(group = group_id, member = params.member_id, client_id = ctx.client_id(), peer = %ctx.peer(), "join group");
    if !ctx.authorize_group(Operation::Read, &group_id) {
        let o = JoinOutcome::error(ResponseError::GroupAuthorizationFailed, &params.member_id);
        return Reply::Now(response(version, o));
    }
    match broker.groups.join(&**broker, &group_id, params) {
        Pending::Now(o) => Reply::Now(response(version, o)),
        Pending::Wait(rx) => Reply::Later(Box::pin(async move {
            let o = rx
                .await
                .unwrap_or_else(|_| JoinOutcome::error(ResponseError::RebalanceInProgress, ""));
            response(version, o)
        })),
    }
}

fn response(version: i16, o: JoinOutcome) -> ResponseKind {
    let s = |x: String| StrBytes::from_string(x);
    let mut r = JoinGroupResponse::default()
        .with_error_code(o.error.map_or(0, |e| e.code()))
        .with_generation_id(o.generation)
        .with_protocol_name(Some(s(o.protocol.unwrap_or_default())))
        .with_leader(s(o.leader))
        .with_member_id(s(o.member_id));
    if version >= 7 {
        r.protocol_type = o.protocol_type.map(s);
    }
    r.members = o
        .members
        .into_iter()
        .map(|(id, inst, meta)| {
            let mut m = JoinGroupResponseMember::default()
                .with_member_id(s(id))
                .with_metadata(meta);
            if version >= 5 {
                m.group_instance_id = inst.map(s);
            }
            m
        })
        .collect();
    ResponseKind::JoinGroup(r)
}
