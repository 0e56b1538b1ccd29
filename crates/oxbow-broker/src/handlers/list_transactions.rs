//! ListTransactions: every transactional id the coordinator knows, filtered by state, producer
//! id, open duration (v1) and id pattern (v2, a regular expression).

use std::sync::Arc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, ResponseKind, TransactionalId,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 2);

const STATES: [&str; 6] = [
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
];

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListTransactionsRequest,
) -> Reply {
    let mut resp = ListTransactionsResponse::default();
    let pattern = match req
        .transactional_id_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(r) => Some(r),
            Err(_) => {
                resp.error_code = ResponseError::InvalidRegularExpression.code();
                return Reply::Now(ResponseKind::ListTransactions(resp));
            }
        },
    };
    let states: Vec<String> = req.state_filters.iter().map(|s| s.to_string()).collect();
    resp.unknown_state_filters = states
        .iter()
        .filter(|s| !STATES.contains(&s.as_str()))
        .map(|s| StrBytes::from_string(s.clone()))
        .collect();
    let now = crate::now_ms();
    resp.transaction_states = broker
        .txns
        .list()
        .into_iter()
        .filter(|m| states.is_empty() || states.iter().any(|s| s == m.state.name()))
        .filter(|m| {
            req.producer_id_filters.is_empty()
                || req.producer_id_filters.contains(&ProducerId(m.producer_id))
        })
        .filter(|m| {
            // v1: only transactions open longer than the duration (ms); -1 for all.
            req.duration_filter < 0
                || (m.txn_start_ms >= 0 && now - m.txn_start_ms >= req.duration_filter)
        })
        .filter(|m| {
            pattern
                .as_ref()
                .is_none_or(|r| r.is_match(&m.transactional_id))
        })
        .filter(|m| {
            ctx.may_list(
                Operation::Describe,
                ResourceType::TransactionalId,
                &m.transactional_id,
            )
        })
        .map(|m| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(m.transactional_id)))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(StrBytes::from_static_str(m.state.name()))
        })
        .collect();
    Reply::Now(ResponseKind::ListTransactions(resp))
}
