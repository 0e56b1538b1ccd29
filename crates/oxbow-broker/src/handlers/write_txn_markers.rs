//! WriteTxnMarkers: in Kafka the coordinator sends it to partition leaders; here the coordinator
//! writes markers in-process, and this API serves operators (`oxbow txn abort`, Kafka's
//! `kafka-transactions.sh abort`) who end a hanging transaction in a partition by hand.

use std::sync::Arc;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{ResponseKind, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use oxbow_coordinator::context::CoordinatorContext;
use oxbow_storage::{StorageError, TxnMarker};
use tracing::{info, warn};

use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::error_map::map_produce_error;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(1, 1);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: WriteTxnMarkersRequest,
) -> Reply {
    let allowed = ctx.authorize_cluster(Operation::ClusterAction);
    let mut flush = Vec::new();
    let mut markers = Vec::with_capacity(req.markers.len());
    for m in req.markers {
        let marker = TxnMarker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            commit: m.transaction_result,
            coordinator_epoch: m.coordinator_epoch,
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in m.topics {
            let name = t.name.0.to_string();
            let partitions = t
                .partition_indexes
                .iter()
                .map(|p| {
                    let code = if !allowed {
                        ResponseError::ClusterAuthorizationFailed.code()
                    } else {
                        match broker.write_txn_marker(&name, *p, &marker) {
                            Ok(Some(target)) => {
                                info!(peer = %ctx.peer(), client_id = ctx.client_id(), principal = %ctx.session.principal,
                                    topic = name, partition = p, producer_id = marker.producer_id,
                                    epoch = marker.producer_epoch, commit = marker.commit, "transaction marker written by request");
                                flush.push(target);
                                0
                            }
                            Ok(None) => ResponseError::UnknownTopicOrPartition.code(),
                            Err(e) => {
                                warn!(topic = name, partition = p, error = %e, "WriteTxnMarkers failed");
                                marker_error(&e).code()
                            }
                        }
                    };
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(*p)
                        .with_error_code(code)
                })
                .collect();
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    let resp = WriteTxnMarkersResponse::default().with_markers(markers);
    if flush.is_empty() {
        return Reply::Now(ResponseKind::WriteTxnMarkers(resp));
    }
    let durable = broker.flush(flush);
    Reply::Later(Box::pin(async move {
        let mut resp = resp;
        if !matches!(durable.await, Ok(Ok(()))) {
            for p in resp
                .markers
                .iter_mut()
                .flat_map(|m| m.topics.iter_mut())
                .flat_map(|t| t.partitions.iter_mut())
                .filter(|p| p.error_code == 0)
            {
                p.error_code = ResponseError::KafkaStorageError.code();
            }
        }
        ResponseKind::WriteTxnMarkers(resp)
    }))
}

fn marker_error(e: &StorageError) -> ResponseError {
    map_produce_error(e)
}
