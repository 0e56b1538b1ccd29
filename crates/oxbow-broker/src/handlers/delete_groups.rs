//! DeleteGroups: removes empty groups with their committed offsets (NON_EMPTY_GROUP otherwise).

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tracing::info;

use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;
use kafka_protocol::ResponseError;

pub const VERSIONS: VersionRange = versions(0, 2);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteGroupsRequest) -> Reply {
    let ids: Vec<String> = req.groups_names.iter().map(|g| g.0.to_string()).collect();
    info!(groups = ?ids, client_id = ctx.client_id(), peer = %ctx.peer(), "delete groups");
    let (allowed, denied): (Vec<String>, Vec<String>) = ids
        .into_iter()
        .partition(|g| ctx.authorize_group(Operation::Delete, g));
    let denied = denied
        .into_iter()
        .map(|g| (g, Some(ResponseError::GroupAuthorizationFailed)));
    let results = broker
        .groups
        .delete_groups(&**broker, &allowed)
        .into_iter()
        .chain(denied)
        .map(|(id, e)| {
            DeletableGroupResult::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_error_code(e.map_or(0, |e| e.code()))
        })
        .collect();
    Reply::Now(ResponseKind::DeleteGroups(
        DeleteGroupsResponse::default().with_results(results),
    ))
}
