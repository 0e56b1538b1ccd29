//! DescribeProducers: the producers a partition knows (id, epoch, last sequence and timestamp)
//! and the first offset of each one's open transaction, so an operator can find a hanging
//! transaction (`oxbow txn find-hanging`, Kafka's `kafka-transactions.sh find-hanging`).

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, ProducerId, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 0);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeProducersRequest,
) -> Reply {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let allowed = ctx.authorize_topic(Operation::Read, &name);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|p| {
                    let mut out = PartitionResponse::default().with_partition_index(*p);
                    if !allowed {
                        out.error_code = ResponseError::TopicAuthorizationFailed.code();
                        return out;
                    }
                    let Some(partition) = broker.partition(&name, *p) else {
                        out.error_code = ResponseError::UnknownTopicOrPartition.code();
                        return out;
                    };
                    out.active_producers = partition
                        .log
                        .producer_states()
                        .into_iter()
                        .map(|s| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(s.producer_id))
                                .with_producer_epoch(i32::from(s.epoch))
                                .with_last_sequence(s.last_sequence())
                                .with_last_timestamp(s.last_timestamp)
                                .with_coordinator_epoch(s.coordinator_epoch)
                                .with_current_txn_start_offset(
                                    s.current_txn_first_offset.unwrap_or(-1),
                                )
                        })
                        .collect();
                    out
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    Reply::Now(ResponseKind::DescribeProducers(
        DescribeProducersResponse::default().with_topics(topics),
    ))
}
