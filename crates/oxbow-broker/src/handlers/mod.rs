//! The registry of request handlers: one file per Kafka API, each stating the versions it serves,
//! and one dispatcher. ApiVersions advertises exactly this table.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tracing::warn;

use crate::Broker;

pub mod alter_configs;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod fetch;
pub mod fetch_encode;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;

/// Who sent a request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub peer: SocketAddr,
    pub client_id: String,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// A handler's answer.
pub enum Reply {
    /// Ready now.
    Now(ResponseKind),
    /// Ready later (e.g. after an fsync or when data arrives); answered in request order.
    Later(BoxFuture<'static, ResponseKind>),
    /// No response at all (produce with acks=0).
    None,
    /// No response, and close the connection once earlier replies are written: an `acks=0`
    /// produce that failed somewhere (Kafka closes so the client refreshes its metadata).
    Close,
    /// A response already encoded (size prefix and header included) whose records may be file
    /// ranges sent with `sendfile`.
    NowEncoded(Vec<fetch_encode::Chunk>),
    /// As `NowEncoded`, ready later.
    LaterEncoded(BoxFuture<'static, Vec<fetch_encode::Chunk>>),
}

/// Every served API and its versions.
pub const SERVED: &[(ApiKey, VersionRange)] = &[
    (ApiKey::ApiVersions, api_versions::VERSIONS),
    (ApiKey::Metadata, metadata::VERSIONS),
    (ApiKey::Produce, produce::VERSIONS),
    (ApiKey::Fetch, fetch::VERSIONS),
    (ApiKey::ListOffsets, list_offsets::VERSIONS),
    (ApiKey::InitProducerId, init_producer_id::VERSIONS),
    (ApiKey::CreateTopics, create_topics::VERSIONS),
    (ApiKey::DeleteTopics, delete_topics::VERSIONS),
    (ApiKey::CreatePartitions, create_partitions::VERSIONS),
    (ApiKey::DescribeConfigs, describe_configs::VERSIONS),
    (ApiKey::AlterConfigs, alter_configs::VERSIONS),
    (
        ApiKey::IncrementalAlterConfigs,
        incremental_alter_configs::VERSIONS,
    ),
    (ApiKey::DeleteRecords, delete_records::VERSIONS),
    (ApiKey::DescribeCluster, describe_cluster::VERSIONS),
    (ApiKey::DescribeLogDirs, describe_log_dirs::VERSIONS),
    (
        ApiKey::ConsumerGroupDescribe,
        consumer_group_describe::VERSIONS,
    ),
    (
        ApiKey::ConsumerGroupHeartbeat,
        consumer_group_heartbeat::VERSIONS,
    ),
    (ApiKey::DeleteGroups, delete_groups::VERSIONS),
    (ApiKey::DescribeGroups, describe_groups::VERSIONS),
    (ApiKey::FindCoordinator, find_coordinator::VERSIONS),
    (ApiKey::Heartbeat, heartbeat::VERSIONS),
    (ApiKey::JoinGroup, join_group::VERSIONS),
    (ApiKey::LeaveGroup, leave_group::VERSIONS),
    (ApiKey::ListGroups, list_groups::VERSIONS),
    (ApiKey::OffsetCommit, offset_commit::VERSIONS),
    (ApiKey::OffsetDelete, offset_delete::VERSIONS),
    (ApiKey::OffsetFetch, offset_fetch::VERSIONS),
    (ApiKey::SyncGroup, sync_group::VERSIONS),
];

/// The versions of `api` this broker serves, if any.
pub fn served_versions(api: ApiKey) -> Option<VersionRange> {
    SERVED.iter().find(|(k, _)| *k == api).map(|(_, v)| *v)
}

/// Runs the handler for a decoded request whose version is served.
pub async fn dispatch(broker: &Arc<Broker>, ctx: &RequestContext, body: RequestKind) -> Reply {
    match body {
        RequestKind::ApiVersions(r) => api_versions::handle(broker, ctx, r).await,
        RequestKind::Metadata(r) => metadata::handle(broker, ctx, r).await,
        RequestKind::Produce(r) => produce::handle(broker, ctx, r).await,
        RequestKind::Fetch(r) => fetch::handle(broker, ctx, r).await,
        RequestKind::ListOffsets(r) => list_offsets::handle(broker, ctx, r).await,
        RequestKind::InitProducerId(r) => init_producer_id::handle(broker, ctx, r).await,
        RequestKind::CreateTopics(r) => create_topics::handle(broker, ctx, r).await,
        RequestKind::DeleteTopics(r) => delete_topics::handle(broker, ctx, r).await,
        RequestKind::CreatePartitions(r) => create_partitions::handle(broker, ctx, r).await,
        RequestKind::DescribeConfigs(r) => describe_configs::handle(broker, ctx, r).await,
        RequestKind::AlterConfigs(r) => alter_configs::handle(broker, ctx, r).await,
        RequestKind::IncrementalAlterConfigs(r) => {
            incremental_alter_configs::handle(broker, ctx, r).await
        }
        RequestKind::DeleteRecords(r) => delete_records::handle(broker, ctx, r).await,
        RequestKind::DescribeCluster(r) => describe_cluster::handle(broker, ctx, r).await,
        RequestKind::DescribeLogDirs(r) => describe_log_dirs::handle(broker, ctx, r).await,
        RequestKind::ConsumerGroupDescribe(r) => {
            consumer_group_describe::handle(broker, ctx, r).await
        }
        RequestKind::ConsumerGroupHeartbeat(r) => {
            consumer_group_heartbeat::handle(broker, ctx, r).await
        }
        RequestKind::DeleteGroups(r) => delete_groups::handle(broker, ctx, r).await,
        RequestKind::DescribeGroups(r) => describe_groups::handle(broker, ctx, r).await,
        RequestKind::FindCoordinator(r) => find_coordinator::handle(broker, ctx, r).await,
        RequestKind::Heartbeat(r) => heartbeat::handle(broker, ctx, r).await,
        RequestKind::JoinGroup(r) => join_group::handle(broker, ctx, r).await,
        RequestKind::LeaveGroup(r) => leave_group::handle(broker, ctx, r).await,
        RequestKind::ListGroups(r) => list_groups::handle(broker, ctx, r).await,
        RequestKind::OffsetCommit(r) => offset_commit::handle(broker, ctx, r).await,
        RequestKind::OffsetDelete(r) => offset_delete::handle(broker, ctx, r).await,
        RequestKind::OffsetFetch(r) => offset_fetch::handle(broker, ctx, r).await,
        RequestKind::SyncGroup(r) => sync_group::handle(broker, ctx, r).await,
        other => {
            warn!(peer = %ctx.peer, client_id = ctx.client_id, request = ?std::mem::discriminant(&other), "no handler for request");
            Reply::None
        }
    }
}

/// A topic name for a response.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// An optional message string for a response.
pub fn message(text: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(text.into()))
}

/// Versions `min..=max`.
pub const fn versions(min: i16, max: i16) -> VersionRange {
    VersionRange { min, max }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table of served APIs must say exactly what ApiVersions advertises.
    #[test]
    fn given_served_table_when_reading_readme_should_list_every_api_with_its_versions() {
        let whole = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let start = whole
            .find("## Protocol: APIs and versions served")
            .unwrap_or(0);
        let readme = &whole[start..];
        let readme = &readme[..readme[3..]
            .find("\n## ")
            .map(|i| i + 3)
            .unwrap_or(readme.len())];
        for (key, v) in SERVED {
            let row = if v.min == v.max {
                format!("| {:?} | {} | {} ", key, *key as i16, v.min)
            } else {
                format!("| {:?} | {} | {}–{}", key, *key as i16, v.min, v.max)
            };
            assert!(readme.contains(&row), "README lacks the row `{row}`");
        }
        let rows = readme
            .lines()
            .filter(|l| {
                l.starts_with("| ")
                    && l.split('|')
                        .nth(2)
                        .is_some_and(|k| k.trim().parse::<i16>().is_ok())
            })
            .count();
        assert_eq!(rows, SERVED.len(), "README lists APIs that are not served");
    }
}
