//! /schemas: schemas by id (what deserializers ask), the types served, listings, contexts.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{flag, ok, schema_json, Params, Shared};
use crate::error::RegistryError;

fn id(raw: &str) -> Result<i32, RegistryError> {
    raw.parse::<i32>()
        .map_err(|_| RegistryError::SchemaNotFound(raw.to_string()))
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
    State(r): State<Shared>,
    Path(raw_id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = id(&raw_id)?;
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
    State(r): State<Shared>,
    Path(raw_id): Path<String>,
) -> Result<Response, RegistryError> {
    let (content, _) = r.schema_by_id(id(&raw_id)?)?;
    Ok(raw(content.schema))
}

pub async fn subjects_of(
    State(r): State<Shared>,
    Path(raw_id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let mut subjects: Vec<String> = r
        .uses_of(id(&raw_id)?, flag(&p, "deleted"))?
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| p.get("subject").is_none_or(|want| want == s))
        .collect();
    subjects.dedup();
    Ok(ok(json!(subjects)))
}

pub async fn versions_of(
    State(r): State<Shared>,
    Path(raw_id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let out: Vec<serde_json::Value> = r
        .uses_of(id(&raw_id)?, flag(&p, "deleted"))?
        .into_iter()
        .filter(|(s, _)| p.get("subject").is_none_or(|want| want == s))
        .map(|(s, v)| json!({"subject": s, "version": v}))
        .collect();
    Ok(ok(json!(out)))
}

pub async fn list(State(r): State<Shared>, Query(p): Query<Params>) -> Response {
    let prefix = p.get("subjectPrefix").map(String::as_str).unwrap_or(":*:");
    let all = r.all_schemas(prefix, flag(&p, "deleted"), flag(&p, "latestOnly"));
    ok(json!(all.iter().map(schema_json).collect::<Vec<_>>()))
}

pub async fn contexts(State(r): State<Shared>) -> Response {
    ok(json!(r.contexts()))
}
