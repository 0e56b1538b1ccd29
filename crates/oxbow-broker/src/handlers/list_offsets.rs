//! ListOffsets: earliest (-2), latest (-1, or the last stable offset for read_committed),
//! max timestamp (-3), earliest local (-4, the same as earliest here), latest tiered (-5, v9+:
//! offset -1 as Kafka answers without tiered storage), and by timestamp.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use oxbow_storage::{OffsetAndTimestamp, PartitionLog, StorageError};

use super::{topic_name, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::error_map::map_read_error;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 10);

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ListOffsetsRequest) -> Reply {
    let read_committed = req.isolation_level == 1;
    let topics = req
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.0.as_str();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let mut out = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    if !ctx.authorize_topic(Operation::Describe, name) {
                        out.error_code = ResponseError::TopicAuthorizationFailed.code();
                        return out;
                    }
                    let Some(partition) = broker.partition(name, p.partition_index) else {
                        out.error_code = ResponseError::UnknownTopicOrPartition.code();
                        return out;
                    };
                    // Timestamp lookups read time indexes and batches from disk; the latest and
                    // earliest offsets (-1, -2) are known in memory.
                    let look = || lookup(&*partition.log, p.timestamp, read_committed);
                    let found = if p.timestamp >= 0 || p.timestamp == MAX_TIMESTAMP {
                        oxbow_storage::blocking(look)
                    } else {
                        look()
                    };
                    match found {
                        Ok(Some(found)) => {
                            out.offset = found.offset;
                            out.timestamp = found.timestamp;
                            if ctx.api_version >= 4 {
                                out.leader_epoch = 0;
                            }
                        }
                        Ok(None) => {
                            out.offset = -1;
                            out.timestamp = -1;
                        }
                        Err(e) => out.error_code = map_read_error(&e).code(),
                    }
                    out
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic_name(name))
                .with_partitions(partitions)
        })
        .collect();
    Reply::Now(ResponseKind::ListOffsets(
        ListOffsetsResponse::default().with_topics(topics),
    ))
}

fn lookup(
    log: &dyn PartitionLog,
    timestamp: i64,
    read_committed: bool,
) -> Result<Option<OffsetAndTimestamp>, StorageError> {
    let at = |offset| {
        Some(OffsetAndTimestamp {
            offset,
            timestamp: -1,
        })
    };
    match timestamp {
        LATEST if read_committed => Ok(at(log.last_stable_offset())),
        LATEST => Ok(at(log.high_watermark())),
        EARLIEST | EARLIEST_LOCAL => Ok(at(log.log_start_offset())),
        MAX_TIMESTAMP => log.max_timestamp(),
        ts if ts >= 0 => log.offset_for_timestamp(ts),
        _ => Ok(None),
    }
}
