//! InitProducerId: a fresh producer id for idempotent producers.
//!
//! Transactional ids are not served yet (the transactions issue comes later): such requests get
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients report as a fatal, clear error rather
//! than retrying forever.

use std::sync::Arc;

use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::{error, warn};

use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 5);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> Reply {
    let mut resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req.transactional_id.is_some() {
        warn!(peer = %ctx.peer(), client_id = ctx.client_id(), "transactional producer refused: transactions are not served yet");
        resp.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return Reply::Now(ResponseKind::InitProducerId(resp));
    }
    // As Kafka: an idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some
    // topic (KIP-679).
    let may_write = ctx.authorize_cluster(Operation::IdempotentWrite)
        || broker
            .metadata
            .topics
            .all()
            .iter()
            .any(|t| ctx.authorize_topic(Operation::Write, &t.meta.name));
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
