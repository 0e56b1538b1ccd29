//! DescribeTransactions: a transactional id's state, producer id and epoch, timeout, start time
//! and the partitions of its open transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, ResponseKind,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{topic_name, versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 0);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> Reply {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let name = id.0.to_string();
            let mut out = TransactionState::default().with_transactional_id(id);
            if !ctx.authorize(Operation::Describe, ResourceType::TransactionalId, &name) {
                out.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
                return out;
            }
            let Some(m) = broker.txns.describe(&name) else {
                out.error_code = ResponseError::TransactionalIdNotFound.code();
                return out;
            };
            let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in &m.partitions {
                by_topic.entry(t.clone()).or_default().push(*p);
            }
            out.transaction_state = StrBytes::from_static_str(m.state.name());
            out.transaction_timeout_ms = m.timeout_ms;
            out.transaction_start_time_ms = m.txn_start_ms;
            out.producer_id = ProducerId(m.producer_id);
            out.producer_epoch = m.producer_epoch;
            out.topics = by_topic
                .into_iter()
                .filter(|(t, _)| ctx.may_list(Operation::Describe, ResourceType::Topic, t))
                .map(|(t, ps)| {
                    TopicData::default()
                        .with_topic(topic_name(&t))
                        .with_partitions(ps)
                })
                .collect();
            out
        })
        .collect();
    Reply::Now(ResponseKind::DescribeTransactions(
        DescribeTransactionsResponse::default().with_transaction_states(states),
    ))
}
