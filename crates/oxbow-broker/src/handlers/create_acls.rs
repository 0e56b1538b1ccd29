//! CreateAcls: adds ACL bindings (ALTER on the cluster). Invalid bindings are refused one by one
//! with INVALID_REQUEST and a message; the rest are persisted before the answer.

use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::{info, warn};

use super::{message, versions, Reply, RequestContext};
use crate::acl::binding::AclBinding;
use crate::authorizer::Operation;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 3);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: CreateAclsRequest) -> Reply {
    let allowed = ctx.authorize_cluster(Operation::Alter);
    let mut results = Vec::with_capacity(req.creations.len());
    let mut valid = Vec::new();
    for c in req.creations {
        let b = AclBinding {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission: c.permission_type,
        };
        let mut r = AclCreationResult::default();
        if !allowed {
            r.error_code = ResponseError::ClusterAuthorizationFailed.code();
        } else if let Some(problem) = b.problem() {
            r.error_code = ResponseError::InvalidRequest.code();
            r.error_message = message(problem);
        } else {
            valid.push((results.len(), b));
        }
        results.push(r);
    }
    if !valid.is_empty() {
        let bindings: Vec<AclBinding> = valid.iter().map(|(_, b)| b.clone()).collect();
        let stored = oxbow_storage::blocking(|| broker.acls.create(&bindings));
        match stored {
            Ok(()) => {
                for b in &bindings {
                    info!(peer = %ctx.peer(), client_id = ctx.client_id(), principal = %ctx.session.principal, acl = ?b, "ACL created");
                    ctx.audit.record(
                        "acl_create",
                        &ctx.session,
                        "success",
                        serde_json::json!({"acl": b}),
                    );
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot persist ACLs");
                for (i, _) in &valid {
                    results[*i].error_code = ResponseError::KafkaStorageError.code();
                    results[*i].error_message = message(format!("cannot persist the ACL: {e}"));
                }
            }
        }
    }
    Reply::Now(ResponseKind::CreateAcls(
        CreateAclsResponse::default().with_results(results),
    ))
}
