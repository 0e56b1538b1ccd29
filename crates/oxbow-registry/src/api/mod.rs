//! The REST API, as Confluent's Schema Registry serves it: one router, one file per resource
//! (`subjects`, `schemas`, `compatibility`, `config` with `mode`), JSON in Confluent's field
//! names and order, errors as `{"error_code", "message"}` with the status their code implies.

mod access;
mod compatibility;
mod config;
mod schemas;
mod subjects;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::error::RegistryError;
use crate::records::SchemaValue;
use crate::registry::Registry;

pub use crate::error::CONTENT_TYPE;

/// Largest request body accepted.
const MAX_BODY: usize = 16 << 20;

pub type Shared = Arc<Registry>;

/// What the routes share: the registry and its access control.
#[derive(Clone)]
pub struct AppState {
    pub registry: Shared,
    pub access: Arc<crate::access::Access>,
}

impl axum::extract::FromRef<AppState> for Shared {
    fn from_ref(s: &AppState) -> Shared {
        s.registry.clone()
    }
}

/// Whether the caller may read `subject` (listings leave out the others).
pub fn may_read(state: &AppState, caller: &crate::access::Caller, subject: &str) -> bool {
    state
        .access
        .authorize
        .authorize(caller, crate::access::Operation::Read, Some(subject))
}

/// Every route of the registry, behind its access layer.
pub fn router(registry: Shared, access: Arc<crate::access::Access>) -> Router {
    let state = AppState { registry, access };
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/subjects", get(subjects::list))
        .route(
            "/subjects/{subject}",
            post(subjects::lookup).delete(subjects::delete_subject),
        )
        .route(
            "/subjects/{subject}/versions",
            get(subjects::versions).post(subjects::register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(subjects::version).delete(subjects::delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(subjects::version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(subjects::referenced_by),
        )
        .route("/schemas", get(schemas::list))
        .route("/schemas/types", get(schemas::types))
        .route("/schemas/ids/{id}", get(schemas::by_id))
        .route("/schemas/ids/{id}/schema", get(schemas::raw_by_id))
        .route("/schemas/ids/{id}/subjects", get(schemas::subjects_of))
        .route("/schemas/ids/{id}/versions", get(schemas::versions_of))
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compatibility::against_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatibility::against_version),
        )
        .route(
            "/config",
            get(config::get_global)
                .put(config::put_global)
                .delete(config::delete_global),
        )
        .route(
            "/config/{subject}",
            get(config::get_subject)
                .put(config::put_subject)
                .delete(config::delete_subject),
        )
        .route(
            "/mode",
            get(config::get_global_mode).put(config::put_global_mode),
        )
        .route(
            "/mode/{subject}",
            get(config::get_subject_mode)
                .put(config::put_subject_mode)
                .delete(config::delete_subject_mode),
        )
        .route("/contexts", get(schemas::contexts))
        .fallback(|| async { RegistryError::NotFound })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::layer,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// A 200 answer with the registry's content type.
pub fn ok(body: Value) -> Response {
    let mut resp = (StatusCode::OK, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

/// A query string's parameters (repeated ones: the last).
pub type Params = HashMap<String, String>;

/// A boolean query parameter: `true`/`True`/`TRUE` (Python's clients send `True`).
pub fn flag(params: &Params, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Parses a JSON body; malformed JSON is a 400 with the reason.
pub fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::BadRequest(format!("Unrecognized request body: {e}")))
}

/// A version as GET /subjects/{s}/versions/{v} answers it.
pub fn schema_json(v: &SchemaValue) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("subject".into(), json!(v.subject));
    o.insert("version".into(), json!(v.version));
    o.insert("id".into(), json!(v.id));
    if v.schema_type() != "AVRO" {
        o.insert("schemaType".into(), json!(v.schema_type()));
    }
    if !v.references.is_empty() {
        o.insert("references".into(), json!(v.references));
    }
    if let Some(m) = v.metadata.as_ref().filter(|m| !m.is_null()) {
        o.insert("metadata".into(), m.clone());
    }
    if let Some(r) = v.rule_set.as_ref().filter(|r| !r.is_null()) {
        o.insert("ruleSet".into(), r.clone());
    }
    o.insert("schema".into(), json!(v.schema));
    if v.deleted {
        o.insert("deleted".into(), json!(true));
    }
    Value::Object(o)
}
