//! DescribeGroups: state, protocol and members (with their subscription and assignment bytes).
//! KIP-848 groups are shown in the classic shape (protocol type `consumer`, the assignor as the
//! protocol, consumer-protocol encoded subscriptions and assignments). Unknown groups are `Dead`.

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tracing::debug;

use super::{versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;
use kafka_protocol::ResponseError;

pub const VERSIONS: VersionRange = versions(0, 5);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeGroupsRequest,
) -> Reply {
    let version = ctx.api_version;
    let s = StrBytes::from_string;
    let groups = req
        .groups
        .iter()
        .map(|gid| {
            let mut d = DescribedGroup::default().with_group_id(gid.clone());
            if !ctx.authorize_group(Operation::Describe, gid.0.as_str()) {
                d.error_code = ResponseError::GroupAuthorizationFailed.code();
                return d;
            }
            let summary = broker
                .groups
                .read(gid.0.as_str(), |g| g.map(|g| g.summary()));
            if version >= 3 {
                d.authorized_operations = if req.include_authorized_operations {
                    ctx.authorized_operations(ResourceType::Group, gid.0.as_str())
                } else {
                    i32::MIN
                };
            }
            match summary {
                None => d.group_state = StrBytes::from_static_str("Dead"),
                Some(sum) => {
                    d.group_state = s(sum.state);
                    d.protocol_type = s(sum.protocol_type);
                    d.protocol_data = s(sum.protocol);
                    d.members = sum
                        .members
                        .into_iter()
                        .map(|m| {
                            let mut dm = DescribedGroupMember::default()
                                .with_member_id(s(m.member_id))
                                .with_client_id(s(m.client_id))
                                .with_client_host(s(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if version >= 4 {
                                dm.group_instance_id = m.instance_id.map(s);
                            }
                            dm
                        })
                        .collect();
                }
            }
            d
        })
        .collect();
    debug!(client_id = ctx.client_id(), peer = %ctx.peer(), "describe groups");
    Reply::Now(ResponseKind::DescribeGroups(
        DescribeGroupsResponse::default().with_groups(groups),
    ))
}
