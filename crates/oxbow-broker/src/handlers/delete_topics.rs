//! DeleteTopics: by name (v1-5 `topic_names`, v6 `topics` with a name) or by id (v6 `topics` with
//! a topic id). Metadata is forgotten first, then the logs are removed.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::{debug, info};

use super::{message, topic_name, versions, Reply, RequestContext};
use crate::admin::AdminFailure;
use crate::authorizer::Operation;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 6);

/// One entry of the request.
enum Target {
    Name(String),
    Id(uuid::Uuid),
    Both(String, uuid::Uuid),
}

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DeleteTopicsRequest) -> Reply {
    let version = ctx.api_version;
    let mut targets: Vec<Target> = req
        .topic_names
        .iter()
        .map(|n| Target::Name(n.0.to_string()))
        .collect();
    for t in &req.topics {
        targets.push(match (&t.name, t.topic_id.is_nil()) {
            (Some(n), true) => Target::Name(n.0.to_string()),
            (Some(n), false) => Target::Both(n.0.to_string(), t.topic_id),
            (None, _) => Target::Id(t.topic_id),
        });
    }
    let mut name_count: HashMap<String, usize> = HashMap::new();
    let mut id_count: HashMap<uuid::Uuid, usize> = HashMap::new();
    for t in &targets {
        match t {
            Target::Name(n) => *name_count.entry(n.clone()).or_default() += 1,
            Target::Id(id) => *id_count.entry(*id).or_default() += 1,
            Target::Both(..) => {}
        }
    }

    let mut responses = Vec::with_capacity(targets.len());
    for target in targets {
        let mut out = DeletableTopicResult::default().with_error_message(None);
        let outcome: Result<(), AdminFailure> = match target {
            Target::Both(name, id) => {
                out.name = Some(topic_name(&name));
                out.topic_id = id;
                Err(AdminFailure::invalid_request(
                    "You may not specify both topic name and topic id.",
                ))
            }
            Target::Name(name) => {
                out.name = Some(topic_name(&name));
                if name_count.get(&name).copied().unwrap_or(0) > 1 {
                    Err(AdminFailure::invalid_request("Duplicate topic name."))
                } else if !ctx.authorize_topic(Operation::Delete, &name) {
                    Err(not_authorized(&name))
                } else {
                    // Removes the partitions' files: off the async threads.
                    oxbow_storage::blocking(|| broker.delete_topic(&name))
                        .map(|id| out.topic_id = id)
                        .map_err(AdminFailure::from)
                }
            }
            Target::Id(id) => {
                out.topic_id = id;
                out.name = None;
                if id_count.get(&id).copied().unwrap_or(0) > 1 {
                    Err(AdminFailure::invalid_request("Duplicate topic id."))
                } else {
                    match broker.metadata.topics.get_by_id(&id) {
                        None => Err(AdminFailure::new(
                            ResponseError::UnknownTopicId,
                            format!("Topic id {id} does not exist."),
                        )),
                        Some(state)
                            if !ctx.authorize_topic(Operation::Delete, &state.meta.name) =>
                        {
                            Err(not_authorized(&state.meta.name))
                        }
                        Some(state) => {
                            let name = state.meta.name.clone();
                            out.name = Some(topic_name(&name));
                            oxbow_storage::blocking(|| broker.delete_topic(&name))
                                .map(|_| ())
                                .map_err(AdminFailure::from)
                        }
                    }
                }
            }
        };
        match outcome {
            Ok(()) => {
                info!(topic = ?out.name.as_ref().map(|n| n.0.to_string()), peer = %ctx.peer(), client_id = ctx.client_id(), "DeleteTopics deleted topic");
                ctx.audit.record(
                    "topic_delete",
                    &ctx.session,
                    "success",
                    serde_json::json!({"topic": out.name.as_ref().map(|n| n.0.to_string())}),
                );
            }
            Err(f) => {
                debug!(topic = ?out.name.as_ref().map(|n| n.0.to_string()), code = ?f.code, message = f.message, "DeleteTopics refused");
                out.error_code = f.code.code();
                if version >= 5 {
                    out.error_message = message(f.message);
                }
            }
        }
        if version < 6 {
            out.topic_id = uuid::Uuid::nil();
            if out.name.is_none() {
                out.name = Some(topic_name(""));
            }
        }
        responses.push(out);
    }
    Reply::Now(ResponseKind::DeleteTopics(
        DeleteTopicsResponse::default().with_responses(responses),
    ))
}

fn not_authorized(topic: &str) -> AdminFailure {
    AdminFailure::new(
        ResponseError::TopicAuthorizationFailed,
        format!("Not authorized to delete topic {topic}"),
    )
}
