//! /subjects: listing, registering, looking up, reading and deleting versions.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::{body, flag, ok, schema_json, Params, Shared};
use crate::access::Caller;
use crate::error::RegistryError;
use crate::registry::{Deleted, SchemaRequest, VersionSpec};

fn deleted(p: &Params) -> Deleted {
    Deleted::from_flags(
        flag(p, "deleted"),
        flag(p, "deletedOnly") || flag(p, "deleted_only"),
    )
}

/// `offset` and `limit` applied to a listing.
fn page<T>(items: Vec<T>, p: &Params) -> Vec<T> {
    let offset = p
        .get("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let limit = p
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize)
        .unwrap_or(usize::MAX);
    items.into_iter().skip(offset).take(limit).collect()
}

pub async fn list(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<Params>,
) -> Response {
    let prefix = p
        .get("subjectPrefix")
        .or_else(|| p.get("subject"))
        .map(String::as_str)
        .unwrap_or(":*:");
    let visible: Vec<String> = state
        .registry
        .subjects(prefix, deleted(&p))
        .into_iter()
        .filter(|s| super::may_read(&state, &caller, s))
        .collect();
    ok(json!(page(visible, &p)))
}

pub async fn versions(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    Ok(ok(json!(page(r.versions(&subject, deleted(&p))?, &p))))
}

pub async fn register(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    raw: Bytes,
) -> Result<Response, RegistryError> {
    let req: SchemaRequest = body(&raw)?;
    let done = r.register(&subject, &req, flag(&p, "normalize")).await?;
    Ok(ok(json!({"id": done.id})))
}

pub async fn lookup(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    raw: Bytes,
) -> Result<Response, RegistryError> {
    let req: SchemaRequest = body(&raw)?;
    let deleted = flag(&p, "deleted") || flag(&p, "lookupDeletedSchema");
    let found = r.lookup(&subject, &req, flag(&p, "normalize"), deleted)?;
    Ok(ok(schema_json(&found)))
}

pub async fn version(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let mut v = r.version(&subject, VersionSpec::parse(&version)?, flag(&p, "deleted"))?;
    v.schema = r.formatted(&v, p.get("format").map(String::as_str))?;
    Ok(ok(schema_json(&v)))
}

pub async fn version_schema(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let v = r.version(&subject, VersionSpec::parse(&version)?, flag(&p, "deleted"))?;
    Ok(super::schemas::raw(
        r.formatted(&v, p.get("format").map(String::as_str))?,
    ))
}

pub async fn referenced_by(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let ids = r.referenced_by(&subject, VersionSpec::parse(&version)?)?;
    Ok(ok(json!(page(ids, &p))))
}

pub async fn delete_subject(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    Ok(ok(json!(
        r.delete_subject(&subject, flag(&p, "permanent")).await?
    )))
}

pub async fn delete_version(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let v = VersionSpec::parse(&version)?;
    Ok(ok(json!(
        r.delete_version(&subject, v, flag(&p, "permanent")).await?
    )))
}
