//! TxnOffsetCommit: offsets committed inside a transaction (consume-transform-produce). The
//! transaction must be ongoing with the group added (AddOffsetsToTxn); from v3 the group
//! membership is checked as for OffsetCommit (KIP-447: a zombie member is fenced). The offsets
//! become visible when the transaction commits. From v5, with Transaction Version 2, the request
//! itself adds the group to the transaction (it includes AddOffsetsToTxn, KIP-890 part 2).

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ResponseKind, TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use oxbow_coordinator::txn_offsets::TxnCommitParams;
use tracing::debug;

use super::{fenced_for_version, topic_name, versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 5);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: TxnOffsetCommitRequest,
) -> Reply {
    let id = req.transactional_id.0.to_string();
    let group = req.group_id.0.to_string();
    let all_with = |code: ResponseError| {
        req.topics
            .iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code.code())
                            })
                            .collect(),
                    )
            })
            .collect::<Vec<_>>()
    };
    let refused = if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, &id) {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !ctx.authorize_group(Operation::Read, &group) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else if let Err(e) = in_transaction(broker, ctx, &id, &req, &group).await {
        Some(fenced_for_version(e, ctx.api_version, 2))
    } else {
        None
    };
    if let Some(e) = refused {
        debug!(peer = %ctx.peer(), client_id = ctx.client_id(), transactional_id = id, group, error = ?e, "TxnOffsetCommit refused");
        let resp = TxnOffsetCommitResponse::default().with_topics(all_with(e));
        return Reply::Now(ResponseKind::TxnOffsetCommit(resp));
    }
    // Topics the principal may not read are refused one by one, as Kafka does.
    let mut denied = Vec::new();
    let mut topics = Vec::new();
    for t in &req.topics {
        let name = t.name.0.to_string();
        let parts = t
            .partitions
            .iter()
            .map(|p| {
                (
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.committed_metadata.as_ref().map(|m| m.to_string()),
                )
            })
            .collect();
        if ctx.authorize_topic(Operation::Read, &name) {
            topics.push((name, parts));
        } else {
            denied.push((name, parts));
        }
    }
    let params = TxnCommitParams {
        group_id: group.clone(),
        producer_id: req.producer_id.0,
        generation_id: if ctx.api_version >= 3 {
            req.generation_id
        } else {
            -1
        },
        member_id: if ctx.api_version >= 3 {
            req.member_id.to_string()
        } else {
            String::new()
        },
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        topics,
    };
    let mut out = match broker.groups.stage_txn_offsets(&**broker, params) {
        Ok(codes) => codes,
        Err(e) => {
            debug!(peer = %ctx.peer(), client_id = ctx.client_id(), transactional_id = id, group, error = ?e, "TxnOffsetCommit refused by the group");
            let resp = TxnOffsetCommitResponse::default().with_topics(all_with(e));
            return Reply::Now(ResponseKind::TxnOffsetCommit(resp));
        }
    };
    for (name, parts) in denied {
        let code = ResponseError::TopicAuthorizationFailed.code();
        out.push((name, parts.into_iter().map(|p| (p.0, code)).collect()));
    }
    let topics = out
        .into_iter()
        .map(|(name, parts)| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, code)| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    Reply::Now(ResponseKind::TxnOffsetCommit(
        TxnOffsetCommitResponse::default().with_topics(topics),
    ))
}

/// Whether the commit belongs to the producer's ongoing transaction (adding the group first for
/// a Transaction Version 2 client).
async fn in_transaction(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    id: &str,
    req: &TxnOffsetCommitRequest,
    group: &str,
) -> Result<(), ResponseError> {
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    let checked = broker.txns.check_offset_commit(id, pid, epoch, group);
    if checked == Err(ResponseError::InvalidTxnState)
        && ctx.api_version >= 5
        && broker.config.transaction.version >= 2
    {
        broker.groups.ensure_ready(&**broker)?;
        broker
            .txns
            .add_offsets(&**broker, id, pid, epoch, group)
            .await?;
        return broker.txns.check_offset_commit(id, pid, epoch, group);
    }
    checked
}
