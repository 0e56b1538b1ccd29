//! ConsumerGroupDescribe (KIP-848): epochs, assignor, and each member's current and target
//! assignment.

use std::sync::Arc;

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ResponseKind,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{message, topic_name, versions, Reply, RequestContext};
use crate::authorizer::{Operation, ResourceType};
use crate::Broker;
use oxbow_coordinator::{assignor, Protocol};

pub const VERSIONS: VersionRange = versions(0, 1);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> Reply {
    let s = StrBytes::from_string;
    let to_assignment = |a: &assignor::Assignment| {
        let tps = a
            .iter()
            .map(|(t, ps)| {
                let id = broker.topic(t).map(|x| x.meta.id).unwrap_or_default();
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_topic_name(topic_name(t))
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect();
        Assignment::default().with_topic_partitions(tps)
    };
    let groups = req
        .group_ids
        .iter()
        .map(|gid| {
            if !ctx.authorize_group(Operation::Describe, gid.0.as_str()) {
                return DescribedGroup::default()
                    .with_group_id(gid.clone())
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "Not authorized to describe the group",
                    )));
            }
            let ops = if req.include_authorized_operations {
                ctx.authorized_operations(ResourceType::Group, gid.0.as_str())
            } else {
                i32::MIN
            };
            let mut d = DescribedGroup::default()
                .with_group_id(gid.clone())
                .with_authorized_operations(ops);
            broker
                .groups
                .read(gid.0.as_str(), |g| match g.map(|g| &g.protocol) {
                    Some(Protocol::Consumer(c)) => {
                        d.group_state = StrBytes::from_static_str(c.state_name());
                        d.group_epoch = c.group_epoch;
                        d.assignment_epoch = c.assignment_epoch;
                        d.assignor_name = s(c.assignor.clone());
                        d.members = c
                            .members
                            .values()
                            .map(|m| {
                                let mut out = Member::default()
                                    .with_member_id(s(m.id.clone()))
                                    .with_instance_id(m.instance_id.clone().map(s))
                                    .with_rack_id(m.rack_id.clone().map(s))
                                    .with_member_epoch(m.epoch)
                                    .with_client_id(s(m.client_id.clone()))
                                    .with_client_host(s(m.client_host.clone()))
                                    .with_subscribed_topic_names(
                                        m.subscribed.iter().map(|t| topic_name(t)).collect(),
                                    )
                                    .with_subscribed_topic_regex(
                                        m.regex.as_ref().map(|r| s(r.text.clone())),
                                    )
                                    .with_assignment(to_assignment(&m.current()))
                                    .with_target_assignment(to_assignment(
                                        &c.target.get(&m.id).cloned().unwrap_or_default(),
                                    ));
                                if ctx.api_version >= 1 {
                                    out.member_type = 1;
                                }
                                out
                            })
                            .collect();
                    }
                    Some(Protocol::Classic(_)) => {
                        d.error_code = ResponseError::GroupIdNotFound.code();
                        d.error_message =
                            message(format!("group {} is not a consumer group", gid.0.as_str()));
                    }
                    None => {
                        d.error_code = ResponseError::GroupIdNotFound.code();
                        d.error_message = message(format!("group {} not found", gid.0.as_str()));
                    }
                });
            d
        })
        .collect();
    Reply::Now(ResponseKind::ConsumerGroupDescribe(
        ConsumerGroupDescribeResponse::default().with_groups(groups),
    ))
}
