//! ApiVersions: which APIs and versions this broker serves (exactly the handler registry).

use std::sync::Arc;

use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;
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

/// The feature clients look for before using Transaction Version 2 (KIP-890, KIP-1022).
const TRANSACTION_VERSION: &str = "transaction.version";

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, _req: ApiVersionsRequest) -> Reply {
    let mut resp = ApiVersionsResponse::default().with_api_keys(served_api_keys());
    if ctx.api_version >= 3 {
        let level = broker.config.transaction.version;
        resp.supported_features = vec![SupportedFeatureKey::default()
            .with_name(StrBytes::from_static_str(TRANSACTION_VERSION))
            .with_min_version(0)
            .with_max_version(2)];
        resp.finalized_features_epoch = 1;
        resp.finalized_features = vec![FinalizedFeatureKey::default()
            .with_name(StrBytes::from_static_str(TRANSACTION_VERSION))
            .with_min_version_level(level)
            .with_max_version_level(level)];
    }
    Reply::Now(ResponseKind::ApiVersions(resp))
}
