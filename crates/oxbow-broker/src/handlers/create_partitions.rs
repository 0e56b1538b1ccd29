//! CreatePartitions: raise a topic's partition count (never lower it), with an optional manual
//! assignment of the new partitions (which on a single node must all be on this node).

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::{debug, info};

use super::create_topics::check_replicas;
use super::{message, topic_name, versions, Reply, RequestContext};
use crate::admin::AdminFailure;
use crate::authorizer::Operation;
use crate::broker::TopicError;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 3);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> Reply {
    let mut count: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *count.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let name = topic.name.0.to_string();
        let outcome = if count.get(&name).copied().unwrap_or(0) > 1 {
            Err(AdminFailure::invalid_request("Duplicate topic in request."))
        } else if !ctx.authorize_topic(Operation::Alter, &name) {
            Err(AdminFailure::new(
                ResponseError::TopicAuthorizationFailed,
                format!("Not authorized to alter topic {name}"),
            ))
        } else {
            // Creates log directories and fsyncs them: off the async threads.
            oxbow_storage::blocking(|| grow(broker, &name, &topic, req.validate_only))
        };
        let mut out = CreatePartitionsTopicResult::default().with_name(topic_name(&name));
        match outcome {
            Ok(()) => {
                if !req.validate_only {
                    info!(topic = name, count = topic.count, peer = %ctx.peer(), client_id = ctx.client_id(), "CreatePartitions grew topic");
                    ctx.audit.record(
                        "topic_partitions",
                        &ctx.session,
                        "success",
                        serde_json::json!({"topic": name, "count": topic.count}),
                    );
                }
            }
            Err(f) => {
                debug!(topic = name, code = ?f.code, message = f.message, "CreatePartitions refused");
                out.error_code = f.code.code();
                out.error_message = message(f.message);
            }
        }
        results.push(out);
    }
    Reply::Now(ResponseKind::CreatePartitions(
        CreatePartitionsResponse::default().with_results(results),
    ))
}

fn grow(
    broker: &Broker,
    name: &str,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), AdminFailure> {
    let state = broker
        .topic(name)
        .ok_or_else(|| AdminFailure::from(TopicError::Unknown(name.to_string())))?;
    let current = state.meta.partitions;
    let total = topic.count;
    if total < current {
        return Err(AdminFailure::new(
            ResponseError::InvalidPartitions,
            format!("The topic {name} currently has {current} partition(s); {total} would not be an increase."),
        ));
    }
    if total == current {
        return Err(AdminFailure::new(
            ResponseError::InvalidPartitions,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if let Some(assignments) = &topic.assignments {
        let added = i64::from(total) - i64::from(current);
        if assignments.len() as i64 != added {
            return Err(AdminFailure::new(
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "Attempted to add {added} additional partition(s), but {} assignment(s) were specified.",
                    assignments.len()
                ),
            ));
        }
        for a in assignments {
            check_replicas(broker.node_id, a.broker_ids.iter().map(|b| b.0))
                .map_err(|m| AdminFailure::new(ResponseError::InvalidReplicaAssignment, m))?;
        }
    }
    Ok(broker
        .metadata
        .create_partitions(name, total, validate_only)?)
}
