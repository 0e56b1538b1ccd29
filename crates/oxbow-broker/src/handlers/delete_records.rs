//! DeleteRecords: move a partition's log start offset forward (offset -1 means the high
//! watermark); whole segments below it are deleted. Answers the new low watermark.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::{debug, info, warn};

use super::{topic_name, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::error_map::map_read_error;
use crate::topic_config;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 2);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> Reply {
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let name = topic.name.0.to_string();
        let state = broker.topic(&name);
        let deletable = state.as_ref().map(|s| {
            let defaults = broker.metadata.defaults.read();
            topic_config::find("cleanup.policy")
                .map(|def| {
                    defaults
                        .effective(def, &s.meta.configs)
                        .0
                        .split(',')
                        .any(|p| p.trim() == "delete")
                })
                .unwrap_or(true)
        });
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let mut out = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            if !ctx.authorize_topic(Operation::Delete, &name) {
                out.error_code = ResponseError::TopicAuthorizationFailed.code();
                partitions.push(out);
                continue;
            }
            let Some(partition) = broker.partition(&name, p.partition_index) else {
                out.error_code = ResponseError::UnknownTopicOrPartition.code();
                partitions.push(out);
                continue;
            };
            if deletable == Some(false) {
                out.error_code = ResponseError::PolicyViolation.code();
                partitions.push(out);
                continue;
            }
            let log = &partition.log;
            let hw = log.high_watermark();
            let offset = if p.offset == -1 { hw } else { p.offset };
            if offset < 0 || offset > hw {
                debug!(
                    topic = name,
                    partition = p.partition_index,
                    offset = p.offset,
                    hw,
                    "DeleteRecords offset out of range"
                );
                out.error_code = ResponseError::OffsetOutOfRange.code();
                partitions.push(out);
                continue;
            }
            // May delete whole segments: off the async threads.
            match oxbow_storage::blocking(|| log.delete_records_before(offset)) {
                Ok(low) => {
                    info!(topic = name, partition = p.partition_index, low_watermark = low, peer = %ctx.peer(), client_id = ctx.client_id(), "DeleteRecords");
                    out.low_watermark = low;
                }
                Err(e) => {
                    warn!(topic = name, partition = p.partition_index, error = %e, "DeleteRecords failed");
                    out.error_code = map_read_error(&e).code();
                }
            }
            partitions.push(out);
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic_name(&name))
                .with_partitions(partitions),
        );
    }
    Reply::Now(ResponseKind::DeleteRecords(
        DeleteRecordsResponse::default().with_topics(topics),
    ))
}
