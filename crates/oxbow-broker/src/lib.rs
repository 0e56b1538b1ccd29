//! The Oxbow broker.
//!
//! This crate owns the running bus: the TCP server and per-connection request loop
//! ([`server`], [`connection`]), the registry of handlers with one file per Kafka API and the
//! versions each serves ([`handlers`]), the broker's state ([`broker::Broker`]): topic metadata and
//! topic configs ([`topics`], [`topic_config`]), partitions over the storage engine
//! ([`partition`]), producer ids ([`producer_ids`]), fetch sessions ([`fetch_session`]), and the one
//! place where storage errors become Kafka error codes ([`error_map`]).

pub mod admin;
pub mod authorizer;
pub mod broker;
pub mod connection;
pub mod error_map;
pub mod fetch_session;
pub mod group;
pub mod handlers;
pub mod partition;
pub mod producer_ids;
pub mod server;
pub mod services;
pub mod session;
pub mod tls;
pub mod topic_config;
pub mod topics;
pub mod transport;

pub use broker::Broker;
pub use server::{bind, serve, ServerHandle};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
