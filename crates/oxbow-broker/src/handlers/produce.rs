//! Produce: validate and append record batches; answer `acks=1` once written to the OS, `acks=all`
//! once fsynced (group-committed with every other producer), `acks=0` never (a failed `acks=0`
//! request closes the connection, as in Kafka).

use std::sync::Arc;

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use oxbow_storage::{PartitionLog, StorageError};
use tracing::{debug, warn};

use super::{message, topic_name, versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::error_map::map_produce_error;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 13);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ProduceRequest) -> Reply {
    let acks = req.acks;
    let now = crate::now_ms();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    // (log, offset below which the data must be durable, topic index, partition index)
    let mut to_flush: Vec<(Arc<dyn PartitionLog>, i64, usize, usize)> = Vec::new();

    for (ti, topic) in req.topic_data.into_iter().enumerate() {
        // Produce v13 names topics by id (KIP-516).
        let topic_id = topic.topic_id;
        let by_id = ctx.api_version >= 13;
        let (name, unknown_id) = if by_id {
            match broker.metadata.topics.get_by_id(&topic_id) {
                Some(state) => (state.meta.name.clone(), false),
                None => (String::new(), true),
            }
        } else {
            (topic.name.0.to_string(), false)
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for (pi, data) in topic.partition_data.into_iter().enumerate() {
            let mut out = PartitionProduceResponse::default().with_index(data.index);
            let refused = if unknown_id {
                Some((
                    ResponseError::UnknownTopicId,
                    format!("No topic with id {topic_id}"),
                ))
            } else if !matches!(acks, -1 | 0 | 1) {
                Some((
                    ResponseError::InvalidRequiredAcks,
                    "acks must be -1, 0 or 1".to_string(),
                ))
            } else if crate::topics::is_internal_name(&name)
                || crate::audit_topic::is_audit_topic(broker, &name)
            {
                // As Kafka (internalTopicsAllowed is false for clients): the group coordinator
                // alone writes `__consumer_offsets`.
                Some((
                    ResponseError::InvalidTopicException,
                    format!("Cannot append to internal topic {name}"),
                ))
            } else if !ctx.authorize_topic(Operation::Write, &name) {
                Some((
                    ResponseError::TopicAuthorizationFailed,
                    format!("Not authorized to write to topic {name}"),
                ))
            } else {
                None
            };
            // Produce v0–v2 carry message sets (magic 0/1): from here on they are one v2 batch.
            let mut data = data;
            let refused = match refused {
                None if ctx.api_version < 3 => up_convert(ctx, &name, &mut data)
                    .err()
                    .map(|why| (ResponseError::CorruptMessage, why)),
                r => r,
            };
            let refused = match refused {
                None => {
                    let id = req.transactional_id.as_ref().map(|t| t.0.as_str());
                    check_transactional(broker, ctx, id, &name, &data).await
                }
                r => r,
            };
            if let Some((code, text)) = refused {
                broker.metrics.produce_failed(&broker.metrics.topic(&name));
                out.error_code = code.code();
                out.error_message = message(text);
                partitions.push(out);
                continue;
            }
            // One look-up gives the partition and the topic's configs (schema validation).
            let state = broker.topic(&name);
            let partition = state.as_ref().and_then(|t| {
                usize::try_from(data.index)
                    .ok()
                    .and_then(|i| t.partitions.get(i).cloned())
            });
            let Some(partition) = partition else {
                out.error_code = ResponseError::UnknownTopicOrPartition.code();
                partitions.push(out);
                continue;
            };
            let records = data.records.unwrap_or_default();
            if records.is_empty() {
                out.error_code = ResponseError::InvalidRecord.code();
                out.error_message = message("produce request carried no record batch");
                partitions.push(out);
                continue;
            }
            let rules = state
                .as_ref()
                .and_then(|t| crate::schema_validation::rules(&t.meta));
            if let Some(rules) = rules {
                let bad = crate::schema_validation::check(broker, &name, &rules, &records);
                if !bad.is_empty() {
                    debug!(topic = name, partition = data.index, peer = %ctx.peer(), client_id = ctx.client_id(),
                        first = bad[0].1, refused = bad.len(), "produce refused by schema validation");
                    out.error_code = ResponseError::InvalidRecord.code();
                    out.error_message = message(format!(
                        "{} record(s) failed schema validation on topic {name}: {}",
                        bad.len(),
                        bad[0].1
                    ));
                    out.record_errors = record_errors(bad);
                    partitions.push(out);
                    continue;
                }
            }
            // KIP-467: keyless records on a compacted topic, timestamps out of bounds.
            let log_config = partition.log.config();
            if let Some(r) =
                crate::record_validation::check(&log_config, &records, now, &name, data.index)
            {
                debug!(topic = name, partition = data.index, peer = %ctx.peer(), client_id = ctx.client_id(),
                    code = ?r.code, refused = r.records.len(), first = r.records[0].1, "produce refused: invalid records");
                broker.metrics.produce_failed(&broker.metrics.topic(&name));
                out.error_code = r.code.code();
                out.error_message = message(r.message);
                out.record_errors = record_errors(r.records);
                partitions.push(out);
                continue;
            }
            let records_len = records.len();
            // Topic compression.type: batches in another codec are recompressed.
            let records =
                match crate::recompress::to_topic_codec(log_config.compression_codec, records) {
                    Ok(r) => r,
                    Err(why) => {
                        broker.metrics.produce_failed(&broker.metrics.topic(&name));
                        out.error_code = ResponseError::CorruptMessage.code();
                        out.error_message = message(why);
                        partitions.push(out);
                        continue;
                    }
                };
            // A segment roll fsyncs the old segment: not on an async worker thread.
            let appended = if partition.log.append_may_block(records.len()) {
                oxbow_storage::blocking(|| partition.log.append(&records, now))
            } else {
                partition.log.append(&records, now)
            };
            let counters = broker.metrics.topic(&name);
            match appended {
                Ok(info) => {
                    let records = if info.duplicate {
                        0
                    } else {
                        (info.last_offset - info.base_offset + 1).max(0) as u64
                    };
                    broker
                        .metrics
                        .produced(&counters, records, records_len as u64);
                    out.base_offset = info.base_offset;
                    out.log_append_time_ms = info.log_append_time;
                    out.log_start_offset = info.log_start_offset;
                    if !info.duplicate {
                        partition.notify_data();
                    }
                    if acks == -1 {
                        to_flush.push((partition.log.clone(), info.last_offset + 1, ti, pi));
                    }
                }
                Err(e) => {
                    broker.metrics.produce_failed(&counters);
                    log_append_error(ctx, &name, data.index, &e);
                    out.error_code = map_produce_error(&e).code();
                    out.error_message = message(e.to_string());
                    if ctx.api_version >= 8
                        && matches!(
                            e,
                            StorageError::CorruptRecord(_) | StorageError::InvalidRecord(_)
                        )
                    {
                        out.record_errors = record_errors(vec![(0, e.to_string())]);
                    }
                }
            }
            partitions.push(out);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_name(if by_id { "" } else { &name }))
                .with_topic_id(if by_id { topic_id } else { uuid::Uuid::nil() })
                .with_partition_responses(partitions),
        );
    }

    if ctx.api_version < 8 {
        for t in &mut responses {
            for p in &mut t.partition_responses {
                p.error_message = None;
                p.record_errors.clear();
            }
        }
    }
    let response = move |responses| {
        ResponseKind::Produce(ProduceResponse::default().with_responses(responses))
    };
    match acks {
        // Kafka answers nothing to acks=0 but closes the connection if any partition failed, so
        // the client notices (and refreshes its metadata) instead of losing records silently.
        0 if responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .any(|p| p.error_code != 0) =>
        {
            Reply::Close
        }
        0 => Reply::None,
        -1 if !to_flush.is_empty() => {
            let targets = to_flush
                .iter()
                .map(|(log, offset, _, _)| (log.clone(), *offset))
                .collect();
            let durable = broker.logs.flush(targets);
            Reply::Later(Box::pin(async move {
                let failure = match durable.await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("flusher stopped".to_string()),
                };
                if let Some(why) = failure {
                    warn!(
                        error = why,
                        "fsync for acks=all failed; answering KAFKA_STORAGE_ERROR"
                    );
                    for (_, _, ti, pi) in &to_flush {
                        let p = &mut responses[*ti].partition_responses[*pi];
                        p.error_code = ResponseError::KafkaStorageError.code();
                        p.base_offset = -1;
                    }
                }
                response(responses)
            }))
        }
        _ => Reply::Now(response(responses)),
    }
}

/// A Produce with transactional batches: it must name its transactional id, which must be
/// authorized, and the batches must belong to that producer's ongoing transaction in this
/// partition (KIP-890 part 1: a late or stray write is refused, so it can neither land in a later
/// transaction nor hold the LSO). From v12, with Transaction Version 2, the write itself adds the
/// partition to the transaction (part 2). Requests without transactional batches pass untouched.
async fn check_transactional(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    id: Option<&str>,
    topic: &str,
    data: &kafka_protocol::messages::produce_request::PartitionProduceData,
) -> Option<(ResponseError, String)> {
    use crate::authorizer::ResourceType;
    use oxbow_storage::batch::{transactional_batches, TransactionalBatches};
    if let Some(id) = id {
        if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, id) {
            return Some((
                ResponseError::TransactionalIdAuthorizationFailed,
                format!("Not authorized to use transactional id {id}"),
            ));
        }
    }
    let records = data.records.as_deref().unwrap_or_default();
    let (pid, epoch) = match transactional_batches(records) {
        TransactionalBatches::None => return None,
        TransactionalBatches::Mixed => {
            return Some((
                ResponseError::InvalidRecord,
                "transactional batches of several producers or epochs in one partition".into(),
            ))
        }
        TransactionalBatches::Producer { producer_id, epoch } => (producer_id, epoch),
    };
    let Some(id) = id else {
        return Some((
            ResponseError::TransactionalIdAuthorizationFailed,
            "transactional batches in a produce request without a transactional id".into(),
        ));
    };
    let partition = data.index;
    let mut verified = broker
        .txns
        .verify_partition(id, pid, epoch, topic, partition);
    if verified == Err(ResponseError::InvalidTxnState)
        && ctx.api_version >= 12
        && broker.config.transaction.version >= 2
    {
        verified = broker
            .txns
            .add_partition_implicitly(&**broker, id, pid, epoch, topic, partition)
            .await;
    }
    verified.err().map(|e| {
        debug!(peer = %ctx.peer(), client_id = ctx.client_id(), transactional_id = id, topic, partition, error = ?e, "transactional write refused");
        (e, format!("partition {topic}-{partition} is not in the ongoing transaction of {id}"))
    })
}

fn log_append_error(ctx: &RequestContext, topic: &str, partition: i32, e: &StorageError) {
    match e {
        StorageError::Io { .. } | StorageError::NoSpace { .. } | StorageError::LogDirOffline(_) => {
            warn!(topic, partition, peer = %ctx.peer(), client_id = ctx.client_id(), error = %e, "append failed")
        }
        _ => {
            debug!(topic, partition, peer = %ctx.peer(), client_id = ctx.client_id(), error = %e, "append refused")
        }
    }
}

/// KIP-467's `record_errors`: each bad record's index in the batch and why.
fn record_errors(bad: Vec<(i32, String)>) -> Vec<BatchIndexAndErrorMessage> {
    bad.into_iter()
        .map(|(i, why)| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(i)
                .with_batch_index_error_message(message(why))
        })
        .collect()
}

/// Replaces a Produce v0–v2 partition's message set by one v2 batch.
fn up_convert(
    ctx: &RequestContext,
    topic: &str,
    data: &mut kafka_protocol::messages::produce_request::PartitionProduceData,
) -> Result<(), String> {
    let Some(records) = data.records.as_ref().filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    let converted = crate::legacy_records::up_convert(records).map_err(|why| {
        debug!(topic, partition = data.index, peer = %ctx.peer(), client_id = ctx.client_id(),
            version = ctx.api_version, error = why, "produce refused: unreadable message set");
        why
    })?;
    data.records = Some(converted);
    Ok(())
}
