//! /compatibility: would a schema be accepted, and if not, every reason why (`verbose=true`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{body, flag, ok, Params, Shared};
use crate::error::RegistryError;
use crate::registry::{SchemaRequest, VersionSpec};

async fn answer(
    r: Shared,
    subject: String,
    version: Option<VersionSpec>,
    p: Params,
    raw: Bytes,
) -> Result<Response, RegistryError> {
    let req: SchemaRequest = body(&raw)?;
    let verbose = flag(&p, "verbose");
    match r.check_compatibility(&subject, version, &req, flag(&p, "normalize")) {
        Ok((compatible, messages)) => {
            if verbose {
                Ok(ok(
                    json!({"is_compatible": compatible, "messages": messages}),
                ))
            } else {
                Ok(ok(json!({"is_compatible": compatible})))
            }
        }
        // With verbose, an unparsable schema is an incompatible one, with the reason.
        Err(RegistryError::InvalidSchema(why)) if verbose => {
            Ok(ok(json!({"is_compatible": false, "messages": [why]})))
        }
        Err(e) => Err(e),
    }
}

pub async fn against_all(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    raw: Bytes,
) -> Result<Response, RegistryError> {
    answer(r, subject, None, p, raw).await
}

pub async fn against_version(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
    raw: Bytes,
) -> Result<Response, RegistryError> {
    let v = VersionSpec::parse(&version)?;
    answer(r, subject, Some(v), p, raw).await
}
