//! DeleteAcls: removes the ACLs each filter matches (ALTER on the cluster) and answers them.

use std::sync::Arc;

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tracing::{info, warn};

use super::{message, versions, Reply, RequestContext};
use crate::acl::binding::AclFilter;
use crate::authorizer::Operation;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 3);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteAclsRequest) -> Reply {
    let filters: Vec<AclFilter> = req
        .filters
        .into_iter()
        .map(|f| {
            AclFilter::from_wire(
                f.resource_type_filter,
                f.resource_name_filter.as_deref(),
                f.pattern_type_filter,
                f.principal_filter.as_deref(),
                f.host_filter.as_deref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let failed = |code: ResponseError, text: Option<String>| {
        filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code.code())
                    .with_error_message(text.clone().and_then(message))
            })
            .collect::<Vec<_>>()
    };
    let results = if !ctx.authorize_cluster(Operation::Alter) {
        failed(ResponseError::ClusterAuthorizationFailed, None)
    } else {
        match oxbow_storage::blocking(|| broker.acls.delete(&filters)) {
            Err(e) => {
                warn!(error = %e, "cannot persist ACLs");
                failed(ResponseError::KafkaStorageError, Some(format!("cannot persist the ACLs: {e}")))
            }
            Ok(removed) => removed
                .into_iter()
                .map(|acls| {
                    for b in &acls {
                        info!(peer = %ctx.peer(), client_id = ctx.client_id(), principal = %ctx.session.principal, acl = ?b, "ACL deleted");
                        ctx.audit.record("acl_delete", &ctx.session, "success", serde_json::json!({"acl": b}));
                    }
                    DeleteAclsFilterResult::default().with_matching_acls(
                        acls.into_iter()
                            .map(|b| {
                                DeleteAclsMatchingAcl::default()
                                    .with_resource_type(b.resource_type)
                                    .with_resource_name(StrBytes::from_string(b.resource_name))
                                    .with_pattern_type(b.pattern_type)
                                    .with_principal(StrBytes::from_string(b.principal))
                                    .with_host(StrBytes::from_string(b.host))
                                    .with_operation(b.operation)
                                    .with_permission_type(b.permission)
                            })
                            .collect(),
                    )
                })
                .collect(),
        }
    };
    Reply::Now(ResponseKind::DeleteAcls(
        DeleteAclsResponse::default().with_filter_results(results),
    ))
}
