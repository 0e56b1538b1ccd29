//! ApiVersions: which APIs and versions this broker serves (exactly the handler registry).

use std::sync::Arc;

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;

use super::{versions, Reply, RequestContext, SERVED};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 4);

/// The advertised table.
pub fn served_api_keys() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|(key, v)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(v.min)
                .with_max_version(v.max)
        })
        .collect()
}

pub async fn handle(
    _broker: &Arc<Broker>,
    _ctx: &RequestContext,
    _req: ApiVersionsRequest,
) -> Reply {
    Reply::Now(ResponseKind::ApiVersions(
        ApiVersionsResponse::default().with_api_keys(served_api_keys()),
    ))
}
