//! FindCoordinator: this broker coordinates every group (key type 0) and every transactional id
//! (key type 1). v4+ batches keys. The first lookup creates the internal `__consumer_offsets` or
//! `__transaction_state` topic, as Kafka does. Other key types (share groups) are refused.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, ResponseKind,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::debug;

use super::{message, versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 4);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> Reply {
    let (host, port) = ctx.session.listener.advertised();
    let answer = |key_type: i8, key: &str| -> Result<(), (ResponseError, &'static str)> {
        match key_type {
            0 if !ctx.authorize(Operation::Describe, ResourceType::Group, key) => {
                return Err((
                    ResponseError::GroupAuthorizationFailed,
                    "not authorized to describe the group",
                ))
            }
            1 if !ctx.authorize(Operation::Describe, ResourceType::TransactionalId, key) => {
                return Err((
                    ResponseError::TransactionalIdAuthorizationFailed,
                    "not authorized to describe the transactional id",
                ))
            }
            0 => {}
            1 => {
                return broker
                    .txns
                    .ensure_ready(&**broker)
                    .map_err(|e| (e, "the transaction state log is not available"))
            }
            _ => {
                return Err((
                    ResponseError::CoordinatorNotAvailable,
                    "only group coordinators are served",
                ))
            }
        }
        broker
            .groups
            .ensure_ready(&**broker)
            .map(|_| ())
            .map_err(|e| (e, "the offsets log is not available"))
    };
    let mut resp = FindCoordinatorResponse::default();
    if ctx.api_version >= 4 {
        resp.coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                let mut c = Coordinator::default().with_key(key.clone());
                match answer(req.key_type, key.as_str()) {
                    Ok(()) => {
                        c.node_id = BrokerId(broker.node_id);
                        c.host = StrBytes::from_string(host.clone());
                        c.port = port;
                    }
                    Err((e, why)) => {
                        c.node_id = BrokerId(-1);
                        c.port = -1;
                        c.error_code = e.code();
                        c.error_message = message(why);
                    }
                }
                c
            })
            .collect();
    } else {
        match answer(req.key_type, req.key.as_str()) {
            Ok(()) => {
                resp.node_id = BrokerId(broker.node_id);
                resp.host = StrBytes::from_string(host);
                resp.port = port;
            }
            Err((e, why)) => {
                resp.node_id = BrokerId(-1);
                resp.port = -1;
                resp.error_code = e.code();
                if ctx.api_version >= 1 {
                    resp.error_message = message(why);
                }
            }
        }
    }
    debug!(peer = %ctx.peer(), client_id = ctx.client_id(), key = %req.key.as_str(), "find coordinator");
    Reply::Now(ResponseKind::FindCoordinator(resp))
}
