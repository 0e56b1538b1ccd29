//! The Oxbow broker: Kafka's `KafkaApis`.
//!
//! This crate owns what the bus answers: the one table of served APIs with one handler file per
//! Kafka API ([`handlers`]), the authorization seam every handler asks ([`authorizer`]) and the
//! ACLs behind it ([`acl`]), client quotas and their throttling ([`quota`]), the
//! broker's state ([`broker::Broker`]): topic metadata and topic configs ([`topics`],
//! [`topic_config`], [`admin`]), partitions over the storage engine's traits ([`partition`]),
//! producer ids ([`producer_ids`]), fetch sessions ([`fetch_session`]), the one place where storage
//! errors become Kafka error codes ([`error_map`]), and how a broker is served ([`serve`]: the
//! network edge of `oxbow-net` with this crate as its frame handler, the services of
//! `oxbow-service`, the group coordinator of `oxbow-coordinator` given the broker as its narrow
//! context).

pub mod acl;
pub mod admin;
pub mod alerts;
pub mod audit;
pub mod audit_topic;
pub mod auth_limit;
pub mod authorizer;
pub mod broker;
mod coordinator_context;
pub mod disk;
pub mod error_map;
pub mod fetch_session;
pub mod group_configs;
pub mod handlers;
pub mod lag_monitor;
pub mod legacy_records;
pub mod metadata;
pub mod metrics;
pub mod partition;
pub mod passwords;
pub mod producer_ids;
pub mod quota;
pub mod recompress;
pub mod record_validation;
pub mod refusal_log;
pub mod registry_access;
pub mod schema_log;
pub mod schema_validation;
pub mod scram;
pub mod serve;
pub mod topic_config;
pub mod topic_reader;
pub mod topic_writer;
pub mod topics;

pub use broker::Broker;
pub use serve::{bind, serve, ServerHandle};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
