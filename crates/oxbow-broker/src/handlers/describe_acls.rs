//! DescribeAcls: the ACLs a filter matches (DESCRIBE on the cluster), grouped by resource pattern.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{versions, Reply, RequestContext};
use crate::acl::binding::AclFilter;
use crate::authorizer::Operation;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 3);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeAclsRequest) -> Reply {
    let mut resp = DescribeAclsResponse::default();
    if !ctx.authorize_cluster(Operation::Describe) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return Reply::Now(ResponseKind::DescribeAcls(resp));
    }
    let filter = AclFilter::from_wire(
        req.resource_type_filter,
        req.resource_name_filter.as_deref(),
        req.pattern_type_filter,
        req.principal_filter.as_deref(),
        req.host_filter.as_deref(),
        req.operation,
        req.permission_type,
    );
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in broker.acls.describe(&filter) {
        by_resource
            .entry((b.resource_type, b.resource_name.clone(), b.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(StrBytes::from_string(b.principal))
                    .with_host(StrBytes::from_string(b.host))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission),
            );
    }
    resp.resources = by_resource
        .into_iter()
        .map(|((t, name, pattern), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(t)
                .with_resource_name(StrBytes::from_string(name))
                .with_pattern_type(pattern)
                .with_acls(acls)
        })
        .collect();
    Reply::Now(ResponseKind::DescribeAcls(resp))
}
