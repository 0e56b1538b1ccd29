//! AddPartitionsToTxn: partitions join a producer's transaction. v0–v3 carry one transaction from
//! the producer; v4+ carry a batch of transactions (sent by brokers), each possibly
//! `verify_only` (KIP-890: is the partition already in the ongoing transaction?).

use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::debug;

use super::{fenced_for_version, topic_name, versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 5);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> Reply {
    let (broker, ctx) = (broker.clone(), ctx.clone());
    Reply::Later(Box::pin(async move {
        let mut resp = AddPartitionsToTxnResponse::default();
        if ctx.api_version <= 3 {
            let txn = Txn {
                id: req.v3_and_below_transactional_id.0.to_string(),
                producer_id: req.v3_and_below_producer_id.0,
                epoch: req.v3_and_below_producer_epoch,
                verify_only: false,
                topics: req.v3_and_below_topics,
            };
            resp.results_by_topic_v3_and_below = one(&broker, &ctx, txn).await;
        } else {
            // A batch from a broker: cluster action (Kafka asks CLUSTER_ACTION for v4+).
            if !ctx.authorize_cluster(Operation::ClusterAction) {
                resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
                return ResponseKind::AddPartitionsToTxn(resp);
            }
            for t in req.transactions {
                let id = t.transactional_id.clone();
                let txn = Txn {
                    id: t.transactional_id.0.to_string(),
                    producer_id: t.producer_id.0,
                    epoch: t.producer_epoch,
                    verify_only: t.verify_only,
                    topics: t.topics,
                };
                let topic_results = one(&broker, &ctx, txn).await;
                resp.results_by_transaction.push(
                    AddPartitionsToTxnResult::default()
                        .with_transactional_id(id)
                        .with_topic_results(topic_results),
                );
            }
        }
        ResponseKind::AddPartitionsToTxn(resp)
    }))
}

struct Txn {
    id: String,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: Vec<AddPartitionsToTxnTopic>,
}

/// Handles one transaction; every partition gets a code.
async fn one(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    txn: Txn,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut codes: Vec<(String, Vec<(i32, Option<ResponseError>)>)> = Vec::new();
    let mut to_add = Vec::new();
    let authorized_id = ctx.authorize(Operation::Write, ResourceType::TransactionalId, &txn.id);
    for t in &txn.topics {
        let name = t.name.0.to_string();
        let count = broker.topic(&name).map(|s| s.meta.partitions);
        let may_write = ctx.authorize_topic(Operation::Write, &name);
        let parts = t
            .partitions
            .iter()
            .map(|p| {
                let err = if !authorized_id {
                    Some(ResponseError::TransactionalIdAuthorizationFailed)
                } else if !may_write {
                    Some(ResponseError::TopicAuthorizationFailed)
                } else if !count.is_some_and(|n| (0..n).contains(p)) {
                    Some(ResponseError::UnknownTopicOrPartition)
                } else {
                    to_add.push((name.clone(), *p));
                    None
                };
                (*p, err)
            })
            .collect();
        codes.push((name, parts));
    }
    let any_refused = codes
        .iter()
        .flat_map(|(_, ps)| ps)
        .any(|(_, e)| e.is_some());
    let outcome: Result<Vec<Option<ResponseError>>, ResponseError> = if any_refused {
        // As Kafka: if any partition is refused, none is added.
        Err(ResponseError::OperationNotAttempted)
    } else if txn.verify_only {
        Ok(to_add
            .iter()
            .map(|(t, p)| {
                broker
                    .txns
                    .verify_partition(&txn.id, txn.producer_id, txn.epoch, t, *p)
                    .err()
            })
            .collect())
    } else {
        broker
            .txns
            .add_partitions(&**broker, &txn.id, txn.producer_id, txn.epoch, &to_add)
            .await
            .map(|()| vec![None; to_add.len()])
            .map_err(|e| fenced_for_version(e, ctx.api_version, 2))
    };
    if let Err(e) = &outcome {
        debug!(peer = %ctx.peer(), client_id = ctx.client_id(), transactional_id = txn.id, error = ?e, "AddPartitionsToTxn refused");
    }
    let mut verified = outcome.as_ref().ok().map(|v| v.iter());
    codes
        .into_iter()
        .map(|(name, parts)| {
            let results = parts
                .into_iter()
                .map(|(p, err)| {
                    let code = match (&err, &outcome) {
                        (Some(e), _) => *e,
                        (None, Err(e)) => *e,
                        (None, Ok(_)) => match verified.as_mut().and_then(|v| v.next()) {
                            Some(Some(e)) => *e,
                            _ => return ok(p),
                        },
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code.code())
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic_name(&name))
                .with_results_by_partition(results)
        })
        .collect()
}

fn ok(p: i32) -> AddPartitionsToTxnPartitionResult {
    AddPartitionsToTxnPartitionResult::default().with_partition_index(p)
}
