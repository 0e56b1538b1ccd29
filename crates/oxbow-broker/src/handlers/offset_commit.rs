//! OffsetCommit: offsets (with their metadata string) are appended to `__consumer_offsets` and
//! fsynced before the answer. Generation -1 with no member id commits for an empty group (simple
//! consumers, admin tools altering offsets of an inactive group).

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use tracing::debug;

use super::{topic_name, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;
use kafka_protocol::ResponseError;
use oxbow_coordinator::offsets::{CommitParams, CommitPartition};

pub const VERSIONS: VersionRange = versions(0, 9);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetCommitRequest) -> Reply {
    let version = ctx.api_version;
    let params = CommitParams {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        generation_or_epoch: req.generation_id_or_member_epoch,
        uses_member_epoch: version >= 9,
        topics: req
            .topics
            .iter()
            .map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| CommitPartition {
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    })
                    .collect();
                (t.name.0.to_string(), parts)
            })
            .collect(),
        client_id: ctx.client_id().to_string(),
    };
    debug!(group = params.group_id, member = params.member_id, generation = params.generation_or_epoch,
        client_id = ctx.client_id(), peer = %ctx.peer(), "offset commit");
    let deny = |code: ResponseError, parts: &[CommitPartition]| {
        parts
            .iter()
            .map(|p| (p.partition, code.code()))
            .collect::<Vec<_>>()
    };
    let mut params = params;
    let mut denied = Vec::new();
    if !ctx.authorize_group(Operation::Read, &params.group_id) {
        denied = params
            .topics
            .drain(..)
            .map(|(t, parts)| (t, deny(ResponseError::GroupAuthorizationFailed, &parts)))
            .collect();
    } else {
        params.topics.retain(|(t, parts)| {
            let allowed = ctx.authorize_topic(Operation::Read, t);
            if !allowed {
                denied.push((
                    t.clone(),
                    deny(ResponseError::TopicAuthorizationFailed, parts),
                ));
            }
            allowed
        });
    }
    let pending = if params.topics.is_empty() && !denied.is_empty() {
        Box::pin(async { Vec::new() })
    } else {
        broker.groups.commit(&**broker, params)
    };
    Reply::Later(Box::pin(async move {
        let codes = pending.await;
        let topics = codes
            .into_iter()
            .chain(denied)
            .map(|(t, ps)| {
                OffsetCommitResponseTopic::default()
                    .with_name(topic_name(&t))
                    .with_partitions(
                        ps.into_iter()
                            .map(|(p, code)| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(topics))
    }))
}
