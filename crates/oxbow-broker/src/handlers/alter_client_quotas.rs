//! AlterClientQuotas: sets and removes quotas by user and/or client id (ALTER_CONFIGS on the
//! cluster). Each entry is validated on its own (INVALID_REQUEST with a message); the valid ones
//! are persisted together before the answer and apply to the next request measured.

use std::sync::Arc;

use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::{info, warn};

use super::{message, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::quota::entity::{validate_value, QuotaEntity};
use crate::quota::store::QuotaOp;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 1);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterClientQuotasRequest,
) -> Reply {
    let allowed = ctx.authorize_cluster(Operation::AlterConfigs);
    let mut results = Vec::with_capacity(req.entries.len());
    let mut valid: Vec<(usize, QuotaEntity, Vec<QuotaOp>)> = Vec::new();
    for entry in &req.entries {
        let wire_entity: Vec<EntityData> = entry
            .entity
            .iter()
            .map(|e| {
                EntityData::default()
                    .with_entity_type(e.entity_type.clone())
                    .with_entity_name(e.entity_name.clone())
            })
            .collect();
        let mut r = EntryData::default().with_entity(wire_entity);
        let checked = if !allowed {
            Err((
                ResponseError::ClusterAuthorizationFailed,
                "Not authorized to alter client quotas".to_string(),
            ))
        } else {
            check_entry(entry).map_err(|m| (ResponseError::InvalidRequest, m))
        };
        match checked {
            Ok((entity, ops)) => valid.push((results.len(), entity, ops)),
            Err((code, text)) => {
                r.error_code = code.code();
                r.error_message = message(text);
            }
        }
        results.push(r);
    }
    if !valid.is_empty() && !req.validate_only {
        let changes: Vec<(QuotaEntity, Vec<QuotaOp>)> = valid
            .iter()
            .map(|(_, e, o)| (e.clone(), o.clone()))
            .collect();
        match oxbow_storage::blocking(|| broker.quotas.alter(&changes)) {
            Ok(after) => {
                for ((entity, ops), values) in changes.iter().zip(after) {
                    info!(peer = %ctx.peer(), client_id = ctx.client_id(), principal = %ctx.session.principal,
                        entity = %entity, ?ops, "client quota altered");
                    ctx.audit.record(
                        "quota_alter",
                        &ctx.session,
                        "success",
                        serde_json::json!({
                            "entity": entity.to_string(),
                            "changes": ops.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
                            "values": values,
                        }),
                    );
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot persist client quotas");
                for (i, _, _) in &valid {
                    results[*i].error_code = ResponseError::KafkaStorageError.code();
                    results[*i].error_message = message(format!("cannot persist the quota: {e}"));
                }
            }
        }
    }
    Reply::Now(ResponseKind::AlterClientQuotas(
        AlterClientQuotasResponse::default().with_entries(results),
    ))
}

fn check_entry(
    entry: &kafka_protocol::messages::alter_client_quotas_request::EntryData,
) -> Result<(QuotaEntity, Vec<QuotaOp>), String> {
    let entity = QuotaEntity::from_wire(entry.entity.iter().map(|e| {
        (
            e.entity_type.as_str(),
            e.entity_name.as_ref().map(StrBytes::as_str),
        )
    }))?;
    let mut ops = Vec::with_capacity(entry.ops.len());
    for op in &entry.ops {
        let key = op.key.to_string();
        if ops.iter().any(|(k, _): &QuotaOp| *k == key) {
            return Err(format!("Duplicate quota key {key:?} in one entry"));
        }
        if op.remove {
            if crate::quota::entity::QuotaKind::from_key(&key).is_none() {
                return Err(format!("Unknown or unsupported quota key {key:?}"));
            }
            ops.push((key, None));
        } else {
            validate_value(&key, op.value)?;
            ops.push((key, Some(op.value)));
        }
    }
    Ok((entity, ops))
}
