//! LeaveGroup (classic protocol): v0-2 one member id; v3+ a batch of identities (KIP-345).

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tracing::info;

use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;
use kafka_protocol::ResponseError;

pub const VERSIONS: VersionRange = versions(0, 5);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: LeaveGroupRequest) -> Reply {
    let group_id = req.group_id.0.to_string();
    let who: Vec<(String, Option<String>)> = if ctx.api_version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    info!(group = group_id, members = ?who, client_id = ctx.client_id(), peer = %ctx.peer(), "leave group");
    let mut resp = LeaveGroupResponse::default();
    if !ctx.authorize_group(Operation::Read, &group_id) {
        resp.error_code = ResponseError::GroupAuthorizationFailed.code();
        return Reply::Now(ResponseKind::LeaveGroup(resp));
    }
    match broker.groups.leave(&**broker, &group_id, &who) {
        Err(e) => resp.error_code = e.code(),
        Ok(errors) if ctx.api_version >= 3 => {
            resp.members = who
                .into_iter()
                .zip(errors)
                .map(|((m, i), e)| {
                    MemberResponse::default()
                        .with_member_id(StrBytes::from_string(m))
                        .with_group_instance_id(i.map(StrBytes::from_string))
                        .with_error_code(e.map_or(0, |e| e.code()))
                })
                .collect();
        }
        Ok(errors) => resp.error_code = errors.first().copied().flatten().map_or(0, |e| e.code()),
    }
    Reply::Now(ResponseKind::LeaveGroup(resp))
}
