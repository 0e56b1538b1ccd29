//! DescribeClientQuotas: the quotas whose entities match the filter (DESCRIBE_CONFIGS on the
//! cluster). Each component names an entity type and matches one name (0), the default (1) or any
//! (2); `strict` leaves out entities with types the filter does not name.

use std::sync::Arc;

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{
    DescribeClientQuotasRequest, DescribeClientQuotasResponse, ResponseKind,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{message, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::quota::entity::{CLIENT_ID, IP, USER};
use crate::quota::store::Match;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 1);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeClientQuotasRequest,
) -> Reply {
    let fail = |code: ResponseError, text: String| {
        Reply::Now(ResponseKind::DescribeClientQuotas(
            DescribeClientQuotasResponse::default()
                .with_error_code(code.code())
                .with_error_message(message(text))
                .with_entries(None),
        ))
    };
    if !ctx.authorize_cluster(Operation::DescribeConfigs) {
        return fail(
            ResponseError::ClusterAuthorizationFailed,
            "Not authorized to describe client quotas".into(),
        );
    }
    let mut user = None;
    let mut client_id = None;
    let mut ip = false;
    for c in &req.components {
        let m = match (c.match_type, c._match.as_ref()) {
            (0, Some(name)) => Match::Exact(name.to_string()),
            (0, None) => {
                return fail(
                    ResponseError::InvalidRequest,
                    format!("Exact match of {} needs a name", c.entity_type.as_str()),
                )
            }
            (1, _) => Match::Default,
            (2, _) => Match::Any,
            (t, _) => {
                return fail(
                    ResponseError::InvalidRequest,
                    format!("Unknown match type {t}"),
                )
            }
        };
        let slot = match c.entity_type.as_str() {
            USER => &mut user,
            CLIENT_ID => &mut client_id,
            IP => {
                ip = true;
                continue;
            }
            other => {
                return fail(
                    ResponseError::InvalidRequest,
                    format!("Invalid quota entity type {other:?}"),
                )
            }
        };
        if slot.is_some() {
            return fail(
                ResponseError::InvalidRequest,
                format!("Duplicate filter component for {}", c.entity_type.as_str()),
            );
        }
        *slot = Some(m);
    }
    // No IP quotas are kept: a filter that asks for one matches nothing.
    let found = if ip {
        Vec::new()
    } else {
        broker
            .quotas
            .store()
            .describe(user.as_ref(), client_id.as_ref(), req.strict)
    };
    let entries = found
        .into_iter()
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .to_wire()
                        .into_iter()
                        .map(|(t, n)| {
                            EntityData::default()
                                .with_entity_type(StrBytes::from_static_str(t))
                                .with_entity_name(n.map(|n| StrBytes::from_string(n.to_string())))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .into_iter()
                        .map(|(k, v)| {
                            ValueData::default()
                                .with_key(StrBytes::from_string(k))
                                .with_value(v)
                        })
                        .collect(),
                )
        })
        .collect();
    Reply::Now(ResponseKind::DescribeClientQuotas(
        DescribeClientQuotasResponse::default().with_entries(Some(entries)),
    ))
}
