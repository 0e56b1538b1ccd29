//! ListGroups: every group, filtered by state (v4+) and type (v5+), case-insensitively.

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tracing::debug;

use super::{versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType, CLUSTER_NAME};
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 5);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ListGroupsRequest) -> Reply {
    let version = ctx.api_version;
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    // As Kafka: DESCRIBE on the cluster lists every group, otherwise those the principal may
    // describe.
    let all_visible = ctx.may_list(Operation::Describe, ResourceType::Cluster, CLUSTER_NAME);
    let mut groups: Vec<ListedGroup> = broker.groups.read_all(|all| {
        all.values()
            .filter(|g| {
                all_visible || ctx.may_list(Operation::Describe, ResourceType::Group, &g.id)
            })
            .filter(|g| states.is_empty() || states.contains(&g.state_name().to_lowercase()))
            .filter(|g| types.is_empty() || types.contains(&g.group_type().to_string()))
            .map(|g| {
                let mut l = ListedGroup::default()
                    .with_group_id(GroupId(StrBytes::from_string(g.id.clone())))
                    .with_protocol_type(StrBytes::from_string(g.protocol_type()));
                if version >= 4 {
                    l.group_state = StrBytes::from_static_str(g.state_name());
                }
                if version >= 5 {
                    l.group_type = StrBytes::from_static_str(g.group_type());
                }
                l
            })
            .collect()
    });
    groups.sort_by(|a, b| a.group_id.0.cmp(&b.group_id.0));
    debug!(client_id = ctx.client_id(), peer = %ctx.peer(), groups = groups.len(), "list groups");
    Reply::Now(ResponseKind::ListGroups(
        ListGroupsResponse::default().with_groups(groups),
    ))
}
