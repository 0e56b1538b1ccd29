//! OffsetDelete: removes a group's committed offsets for topics its members do not subscribe to.

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use tracing::info;

use super::{topic_name, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;
use kafka_protocol::ResponseError;

pub const VERSIONS: VersionRange = versions(0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetDeleteRequest) -> Reply {
    let gid = req.group_id.0.to_string();
    let topics: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    info!(group = gid, client_id = ctx.client_id(), peer = %ctx.peer(), topics = topics.len(), "offset delete");
    let mut resp = OffsetDeleteResponse::default();
    if !ctx.authorize_group(Operation::Delete, &gid) {
        resp.error_code = ResponseError::GroupAuthorizationFailed.code();
        return Reply::Now(ResponseKind::OffsetDelete(resp));
    }
    match broker.groups.delete_offsets(&**broker, &gid, topics) {
        Err(e) => resp.error_code = e.code(),
        Ok(list) => {
            resp.topics = list
                .into_iter()
                .map(|(t, ps)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(topic_name(&t))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, code)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
        }
    }
    Reply::Now(ResponseKind::OffsetDelete(resp))
}
