//! EndTxn: commit or abort the producer's transaction. The answer comes once the decision is
//! durable and the markers are written. From v5 (Transaction Version 2, KIP-890) the epoch is
//! bumped with every transaction and the answer carries the new one.

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use oxbow_coordinator::context::CoordinatorContext;
use tracing::debug;

use super::{fenced_for_version, versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 5);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: EndTxnRequest) -> Reply {
    let id = req.transactional_id.0.to_string();
    let mut resp = EndTxnResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, &id) {
        resp.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return Reply::Now(ResponseKind::EndTxn(resp));
    }
    let (broker, ctx) = (broker.clone(), ctx.clone());
    Reply::Later(Box::pin(async move {
        let coordinator_ctx: Arc<dyn CoordinatorContext> = broker.clone();
        let bump = ctx.api_version >= 5;
        match broker
            .txns
            .end_txn(
                coordinator_ctx,
                &id,
                req.producer_id.0,
                req.producer_epoch,
                req.committed,
                bump,
            )
            .await
        {
            Ok(p) => {
                resp.producer_id = ProducerId(p.producer_id);
                resp.producer_epoch = p.epoch;
            }
            Err(e) => {
                debug!(peer = %ctx.peer(), client_id = ctx.client_id(), transactional_id = id, commit = req.committed, error = ?e, "EndTxn refused");
                resp.error_code = fenced_for_version(e, ctx.api_version, 2).code();
            }
        }
        ResponseKind::EndTxn(resp)
    }))
}
