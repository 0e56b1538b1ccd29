//! /schemas: schemas by id (what deserializers ask), the types served, listings, contexts.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::json;

use super::{flag, ok, schema_json, Params, Shared};
use crate::access::Caller;
use crate::error::RegistryError;

fn id(raw: &str) -> Result<i32, RegistryError> {
    raw.parse::<i32>()
        .map_err(|_| RegistryError::SchemaNotFound(raw.to_string()))
}

/// An id may be read by whoever may read one of the subjects using it (others are told it does
/// not exist, as a listing would not show it).
fn readable_id(state: &super::AppState, caller: &Caller, raw: &str) -> Result<i32, RegistryError> {
    let id = id(raw)?;
    let uses = state.registry.uses_of(id, true)?;
    if uses.iter().any(|(s, _)| super::may_read(state, caller, s)) {
        Ok(id)
    } else {
        Err(RegistryError::SchemaNotFound(raw.to_string()))
    }
}

/// A schema's text as is (the `/schema` endpoints).
pub fn raw(text: String) -> Response {
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(super::CONTENT_TYPE),
    );
    resp
}

pub async fn types() -> Response {
    ok(json!(crate::schema::TYPES))
}

pub async fn by_id(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw_id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = readable_id(&state, &caller, &raw_id)?;
    let r = state.registry.clone();
    let (content, first) = r.schema_by_id(id)?;
    let mut o = serde_json::Map::new();
    if content.schema_type != "AVRO" {
        o.insert("schemaType".into(), json!(content.schema_type));
    }
    o.insert(
        "schema".into(),
        json!(r.formatted(&first, p.get("format").map(String::as_str))?),
    );
    if !content.references.is_empty() {
        o.insert("references".into(), json!(content.references));
    }
    if let Some(m) = first.metadata.as_ref().filter(|m| !m.is_null()) {
        o.insert("metadata".into(), m.clone());
    }
    if let Some(rs) = first.rule_set.as_ref().filter(|x| !x.is_null()) {
        o.insert("ruleSet".into(), rs.clone());
    }
    if flag(&p, "fetchMaxId") {
        o.insert("maxId".into(), json!(r.max_id()));
    }
    Ok(ok(serde_json::Value::Object(o)))
}

pub async fn raw_by_id(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw_id): Path<String>,
) -> Result<Response, RegistryError> {
    let id = readable_id(&state, &caller, &raw_id)?;
    let (content, _) = state.registry.schema_by_id(id)?;
    Ok(raw(content.schema))
}

pub async fn subjects_of(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw_id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = readable_id(&state, &caller, &raw_id)?;
    let mut subjects: Vec<String> = state
        .registry
        .uses_of(id, flag(&p, "deleted"))?
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| super::may_read(&state, &caller, s))
        .filter(|s| p.get("subject").is_none_or(|want| want == s))
        .collect();
    subjects.dedup();
    Ok(ok(json!(subjects)))
}

pub async fn versions_of(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw_id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = readable_id(&state, &caller, &raw_id)?;
    let out: Vec<serde_json::Value> = state
        .registry
        .uses_of(id, flag(&p, "deleted"))?
        .into_iter()
        .filter(|(s, _)| super::may_read(&state, &caller, s))
        .filter(|(s, _)| p.get("subject").is_none_or(|want| want == s))
        .map(|(s, v)| json!({"subject": s, "version": v}))
        .collect();
    Ok(ok(json!(out)))
}

pub async fn list(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<Params>,
) -> Response {
    let prefix = p.get("subjectPrefix").map(String::as_str).unwrap_or(":*:");
    let all = state
        .registry
        .all_schemas(prefix, flag(&p, "deleted"), flag(&p, "latestOnly"));
    ok(json!(all
        .iter()
        .filter(|v| super::may_read(&state, &caller, &v.subject))
        .map(schema_json)
        .collect::<Vec<_>>()))
}

pub async fn contexts(State(r): State<Shared>) -> Response {
    ok(json!(r.contexts()))
}
