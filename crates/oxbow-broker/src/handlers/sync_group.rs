//! SyncGroup (classic protocol): the leader's assignment; every member's reply waits for it.

use std::sync::Arc;

use kafka_protocol::messages::{ResponseKind, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::debug;

use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;
use oxbow_coordinator::classic::{Pending, SyncOutcome};
use oxbow_coordinator::classic_sync::SyncParams;

pub const VERSIONS: VersionRange = versions(0, 5);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: SyncGroupRequest) -> Reply {
    let version = ctx.api_version;
    let group_id = req.group_id.0.to_string();
    let params = SyncParams {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        generation: req.generation_id,
        protocol_type: req.protocol_type.as_ref().map(|s| s.to_string()),
        protocol: req.protocol_name.as_ref().map(|s| s.to_string()),
        assignments: req
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
            .collect(),
    };
    debug!(group = group_id, member = params.member_id, generation = params.generation, client_id = ctx.client_id(), peer = %ctx.peer(), "sync group");
    if !ctx.authorize_group(Operation::Read, &group_id) {
        return Reply::Now(response(
            version,
            SyncOutcome::error(ResponseError::GroupAuthorizationFailed),
        ));
    }
    match broker.groups.sync(&**broker, &group_id, params) {
        Pending::Now(o) => Reply::Now(response(version, o)),
        Pending::Wait(rx) => Reply::Later(Box::pin(async move {
            let o = rx
                .await
                .unwrap_or_else(|_| SyncOutcome::error(ResponseError::RebalanceInProgress));
            response(version, o)
        })),
    }
}

fn response(version: i16, o: SyncOutcome) -> ResponseKind {
    let mut r = SyncGroupResponse::default()
        .with_error_code(o.error.map_or(0, |e| e.code()))
        .with_assignment(o.assignment);
    if version >= 5 {
        r.protocol_type = o.protocol_type.map(StrBytes::from_string);
        r.protocol_name = o.protocol.map(StrBytes::from_string);
    }
    ResponseKind::SyncGroup(r)
}
