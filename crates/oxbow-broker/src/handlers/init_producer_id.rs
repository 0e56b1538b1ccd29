//! InitProducerId: a fresh producer id for idempotent producers; for a transactional id, the
//! transaction coordinator's producer id with the next epoch (fencing the previous holder).

use std::sync::Arc;

use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::{debug, error};

use super::fenced_for_version;
use super::{versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;
use oxbow_coordinator::context::CoordinatorContext;

pub const VERSIONS: VersionRange = versions(0, 5);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> Reply {
    let mut resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if let Some(id) = req.transactional_id.as_ref().map(|t| t.0.to_string()) {
        let (broker, ctx) = (broker.clone(), ctx.clone());
        return Reply::Later(Box::pin(async move {
            transactional(&broker, &ctx, id, req, resp).await
        }));
    }
    // As Kafka: an idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some
    // topic (KIP-679). The search over topics is not audited topic by topic.
    let may_write = ctx.authorize_cluster(Operation::IdempotentWrite)
        || broker
            .metadata
            .topics
            .all()
            .iter()
            .any(|t| ctx.may_list(Operation::Write, ResourceType::Topic, &t.meta.name));
    if !may_write {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return Reply::Now(ResponseKind::InitProducerId(resp));
    }
    match broker.producer_ids.next_id() {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(e) => {
            error!(error = %e, "cannot persist the producer id block");
            resp.error_code = ResponseError::KafkaStorageError.code();
        }
    }
    Reply::Now(ResponseKind::InitProducerId(resp))
}

async fn transactional(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    id: String,
    req: InitProducerIdRequest,
    mut resp: InitProducerIdResponse,
) -> ResponseKind {
    if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, &id) {
        resp.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return ResponseKind::InitProducerId(resp);
    }
    let coordinator_ctx: Arc<dyn CoordinatorContext> = broker.clone();
    let expected = (req.producer_id.0, req.producer_epoch);
    match broker
        .txns
        .init_producer_id(coordinator_ctx, &id, req.transaction_timeout_ms, expected)
        .await
    {
        Ok(p) => {
            resp.producer_id = ProducerId(p.producer_id);
            resp.producer_epoch = p.epoch;
        }
        Err(e) => {
            debug!(peer = %ctx.peer(), client_id = ctx.client_id(), transactional_id = id, error = ?e, "InitProducerId refused");
            resp.error_code = fenced_for_version(e, ctx.api_version, 4).code();
        }
    }
    ResponseKind::InitProducerId(resp)
}
