//! /config and /mode: compatibility levels and modes, global and per subject or context.
//! GET answers `compatibilityLevel`; PUT takes and answers `compatibility` (as Confluent).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{body, flag, ok, Params, Shared};
use crate::error::RegistryError;
use crate::records::ConfigValue;
use crate::registry::ConfigUpdate;

fn config_json(c: &ConfigValue) -> Value {
    serde_json::to_value(c).unwrap_or_else(|_| json!({}))
}

fn update_json(u: &ConfigUpdate) -> Value {
    let mut o = serde_json::Map::new();
    macro_rules! put {
        ($($f:ident => $k:literal),*) => { $(if let Some(v) = &u.$f { o.insert($k.into(), json!(v)); })* };
    }
    put!(compatibility => "compatibility", normalize => "normalize", alias => "alias",
         validate_fields => "validateFields", compatibility_group => "compatibilityGroup",
         default_metadata => "defaultMetadata", override_metadata => "overrideMetadata",
         default_rule_set => "defaultRuleSet", override_rule_set => "overrideRuleSet");
    Value::Object(o)
}

pub async fn get_global(State(r): State<Shared>) -> Result<Response, RegistryError> {
    Ok(ok(config_json(&r.get_config(None, false)?)))
}

pub async fn put_global(State(r): State<Shared>, raw: Bytes) -> Result<Response, RegistryError> {
    let u: ConfigUpdate = body(&raw)?;
    Ok(ok(update_json(&r.put_config(None, u).await?)))
}

pub async fn delete_global(State(r): State<Shared>) -> Result<Response, RegistryError> {
    Ok(ok(config_json(&r.delete_config(None).await?)))
}

pub async fn get_subject(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    Ok(ok(config_json(&r.get_config(
        Some(&subject),
        flag(&p, "defaultToGlobal"),
    )?)))
}

pub async fn put_subject(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    raw: Bytes,
) -> Result<Response, RegistryError> {
    let u: ConfigUpdate = body(&raw)?;
    Ok(ok(update_json(&r.put_config(Some(&subject), u).await?)))
}

pub async fn delete_subject(
    State(r): State<Shared>,
    Path(subject): Path<String>,
) -> Result<Response, RegistryError> {
    Ok(ok(config_json(&r.delete_config(Some(&subject)).await?)))
}

#[derive(Deserialize)]
struct ModeUpdate {
    mode: String,
}

pub async fn get_global_mode(State(r): State<Shared>) -> Result<Response, RegistryError> {
    Ok(ok(json!({"mode": r.get_mode(None, false)?})))
}

pub async fn put_global_mode(
    State(r): State<Shared>,
    Query(p): Query<Params>,
    raw: Bytes,
) -> Result<Response, RegistryError> {
    let u: ModeUpdate = body(&raw)?;
    Ok(ok(
        json!({"mode": r.put_mode(None, &u.mode, flag(&p, "force")).await?}),
    ))
}

pub async fn get_subject_mode(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    Ok(ok(
        json!({"mode": r.get_mode(Some(&subject), flag(&p, "defaultToGlobal"))?}),
    ))
}

pub async fn put_subject_mode(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    raw: Bytes,
) -> Result<Response, RegistryError> {
    let u: ModeUpdate = body(&raw)?;
    Ok(ok(
        json!({"mode": r.put_mode(Some(&subject), &u.mode, flag(&p, "force")).await?}),
    ))
}

pub async fn delete_subject_mode(
    State(r): State<Shared>,
    Path(subject): Path<String>,
) -> Result<Response, RegistryError> {
    Ok(ok(json!({"mode": r.delete_mode(Some(&subject)).await?})))
}
