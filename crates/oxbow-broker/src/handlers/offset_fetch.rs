//! OffsetFetch: committed offsets of named partitions or of every partition (null topics), for one
//! group (v1-7) or several (v8+). Partitions without a commit answer offset -1. With
//! `require_stable` (v7+, KIP-447) a partition whose offset an open transaction may still change
//! answers UNSTABLE_OFFSET_COMMIT, which clients retry.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::debug;

use super::{topic_name, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;
use oxbow_coordinator::store::OffsetEntry;

pub const VERSIONS: VersionRange = versions(0, 9);

type Fetched = Result<Vec<(String, Vec<(i32, Option<OffsetEntry>)>)>, ResponseError>;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: OffsetFetchRequest) -> Reply {
    let version = ctx.api_version;
    let ready = broker.groups.ensure_ready(&**broker);
    let require_stable = version >= 7 && req.require_stable;
    let unstable = |group: &str, topic: &str, partition: i32| {
        require_stable
            && broker
                .groups
                .has_pending_txn_offset(group, topic, partition)
    };
    let mut resp = OffsetFetchResponse::default();
    if version >= 8 {
        resp.groups = req
            .groups
            .iter()
            .map(|g| {
                let gid = g.group_id.0.to_string();
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let member = g
                    .member_id
                    .as_ref()
                    .filter(|m| !m.is_empty())
                    .map(|m| (m.to_string(), g.member_epoch));
                let fetched: Fetched = match &ready {
                    _ if !ctx.authorize_group(Operation::Describe, &gid) => {
                        Err(ResponseError::GroupAuthorizationFailed)
                    }
                    Err(e) => Err(*e),
                    Ok(_) => broker.groups.fetch_offsets(
                        &gid,
                        topics,
                        member.as_ref().map(|(m, e)| (m.as_str(), *e)),
                    ),
                };
                debug!(group = gid, client_id = ctx.client_id(), peer = %ctx.peer(), "offset fetch");
                let mut out = OffsetFetchResponseGroup::default()
                    .with_group_id(GroupId(StrBytes::from_string(gid)));
                match fetched {
                    Err(e) => out.error_code = e.code(),
                    Ok(list) => {
                        let gid = out.group_id.0.to_string();
                        out.topics = list
                            .into_iter()
                            .map(|(t, ps)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(topic_name(&t))
                                    .with_partitions(
                                        ps.into_iter()
                                            .map(|(p, e)| {
                                                if unstable(&gid, &t, p) {
                                                    return OffsetFetchResponsePartitions::default()
                                                        .with_partition_index(p)
                                                        .with_committed_offset(-1)
                                                        .with_error_code(
                                                            ResponseError::UnstableOffsetCommit
                                                                .code(),
                                                        );
                                                }
                                                let (offset, epoch, meta) = values(e);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(offset)
                                                    .with_committed_leader_epoch(epoch)
                                                    .with_metadata(Some(StrBytes::from_string(
                                                        meta,
                                                    )))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect();
                    }
                }
                out
            })
            .collect();
        return Reply::Now(ResponseKind::OffsetFetch(resp));
    }
    let gid = req.group_id.0.to_string();
    let topics = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    debug!(group = gid, client_id = ctx.client_id(), peer = %ctx.peer(), "offset fetch");
    let fetched: Fetched = match ready {
        _ if !ctx.authorize_group(Operation::Describe, &gid) => {
            Err(ResponseError::GroupAuthorizationFailed)
        }
        Err(e) => Err(e),
        Ok(_) => broker.groups.fetch_offsets(&gid, topics, None),
    };
    match fetched {
        Err(e) => {
            if version >= 2 {
                resp.error_code = e.code();
            }
        }
        Ok(list) => {
            resp.topics = list
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&t))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, e)| {
                                    if unstable(&gid, &t, p) {
                                        return OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_error_code(
                                                ResponseError::UnstableOffsetCommit.code(),
                                            );
                                    }
                                    let (offset, epoch, meta) = values(e);
                                    let mut part = OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(offset)
                                        .with_metadata(Some(StrBytes::from_string(meta)));
                                    if version >= 5 {
                                        part.committed_leader_epoch = epoch;
                                    }
                                    part
                                })
                                .collect(),
                        )
                })
                .collect();
        }
    }
    Reply::Now(ResponseKind::OffsetFetch(resp))
}

fn values(e: Option<OffsetEntry>) -> (i64, i32, String) {
    match e {
        Some(e) => (e.offset, e.leader_epoch, e.metadata),
        None => (-1, -1, String::new()),
    }
}
