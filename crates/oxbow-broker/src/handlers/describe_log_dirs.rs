//! DescribeLogDirs: the one log directory (the data dir) with the size of each partition's log,
//! all of them or those asked for; from v4 the file system's total and usable bytes.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::debug;

use super::{topic_name, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::topics::TopicState;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 4);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeLogDirsRequest,
) -> Reply {
    let dir = broker.data_dir();
    let dir_name = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string();
    let mut result = DescribeLogDirsResult::default().with_log_dir(StrBytes::from_string(dir_name));
    if !ctx.authorize_cluster(Operation::Describe) {
        // As Kafka: no results, and from v3 on the top-level error.
        let mut resp = DescribeLogDirsResponse::default();
        if ctx.api_version >= 3 {
            resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        }
        return Reply::Now(ResponseKind::DescribeLogDirs(resp));
    }
    if broker.logs.is_offline() {
        result.error_code = ResponseError::KafkaStorageError.code();
    } else {
        let mut topics = Vec::new();
        match req.topics {
            None => {
                for state in broker.metadata.topics.all() {
                    push_topic(&mut topics, &state, None);
                }
            }
            Some(wanted) => {
                for t in wanted {
                    if let Some(state) = broker.topic(t.topic.0.as_str()) {
                        let partitions: BTreeSet<i32> = t.partitions.into_iter().collect();
                        push_topic(&mut topics, &state, Some(&partitions));
                    }
                }
            }
        }
        result.topics = topics;
        if ctx.api_version >= 4 {
            match crate::disk::disk_space(dir) {
                Ok((total, usable)) => {
                    result.total_bytes = total;
                    result.usable_bytes = usable;
                }
                Err(e) => debug!(dir = %dir.display(), error = %e, "statvfs failed"),
            }
        }
    }
    Reply::Now(ResponseKind::DescribeLogDirs(
        DescribeLogDirsResponse::default().with_results(vec![result]),
    ))
}

fn push_topic(
    out: &mut Vec<DescribeLogDirsTopic>,
    state: &TopicState,
    only: Option<&BTreeSet<i32>>,
) {
    let partitions: Vec<DescribeLogDirsPartition> = state
        .partitions
        .iter()
        .filter(|p| match only {
            None => true,
            Some(set) => set.contains(&p.tp.partition),
        })
        .map(|p| {
            DescribeLogDirsPartition::default()
                .with_partition_index(p.tp.partition)
                .with_partition_size(i64::try_from(p.log.size_bytes()).unwrap_or(i64::MAX))
                .with_offset_lag(0)
                .with_is_future_key(false)
        })
        .collect();
    if !partitions.is_empty() {
        out.push(
            DescribeLogDirsTopic::default()
                .with_name(topic_name(&state.meta.name))
                .with_partitions(partitions),
        );
    }
}
