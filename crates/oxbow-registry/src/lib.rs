//! Oxbow's schema registry: Confluent's Schema Registry REST API served from the bus itself.
//!
//! This crate owns the registry: its state in the `_schemas` topic in Confluent's record layout
//! ([`records`], reached through [`log::SchemaLog`], which the broker implements over its own
//! log) and the in-memory index rebuilt from it ([`store`]); the operations — register, look up,
//! delete, configs and modes ([`registry`]); framed Avro/Protobuf/JSON payloads read back as JSON with
//! their writer's schema ([`payload`], for the lake); schema types ([`schema`]: Avro, JSON Schema) and
//! their compatibility rules with a reason for every rejection ([`compat`]); subjects and
//! contexts ([`subject`]); errors with Confluent's codes ([`error`]); and the HTTP API
//! ([`api`]) behind its access control ([`access`]: HTTP Basic, permissions, audit), served as
//! one service of the broker's lifecycle ([`server`]).

pub mod access;
pub mod api;
pub mod compat;
pub mod error;
pub mod log;
pub mod payload;
pub mod records;
pub mod registry;
pub mod schema;
pub mod server;
pub mod store;
pub mod subject;

pub use error::RegistryError;
pub use log::SchemaLog;
pub use registry::Registry;
