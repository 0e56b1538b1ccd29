//! AddOffsetsToTxn: the producer will commit offsets of a consumer group in its transaction
//! (followed by TxnOffsetCommit to the group coordinator).

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::debug;

use super::{fenced_for_version, versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 4);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AddOffsetsToTxnRequest,
) -> Reply {
    let id = req.transactional_id.0.to_string();
    let group = req.group_id.0.to_string();
    let mut resp = AddOffsetsToTxnResponse::default();
    if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, &id) {
        resp.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return Reply::Now(ResponseKind::AddOffsetsToTxn(resp));
    }
    if !ctx.authorize_group(Operation::Read, &group) {
        resp.error_code = ResponseError::GroupAuthorizationFailed.code();
        return Reply::Now(ResponseKind::AddOffsetsToTxn(resp));
    }
    let (broker, ctx) = (broker.clone(), ctx.clone());
    Reply::Later(Box::pin(async move {
        // The offsets log must exist before offsets are committed into it.
        let ready = broker.groups.ensure_ready(&*broker).map(|_| ());
        let result = match ready {
            Ok(()) => {
                broker
                    .txns
                    .add_offsets(&*broker, &id, req.producer_id.0, req.producer_epoch, &group)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            debug!(peer = %ctx.peer(), client_id = ctx.client_id(), transactional_id = id, group, error = ?e, "AddOffsetsToTxn refused");
            resp.error_code = fenced_for_version(e, ctx.api_version, 2).code();
        }
        ResponseKind::AddOffsetsToTxn(resp)
    }))
}
