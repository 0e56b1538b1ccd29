//! Fetch: read whole batches from each partition's log, long-polling until `min_bytes` arrive or
//! `max_wait_ms` passes, within `max_bytes` and each partition's limit, through incremental fetch
//! sessions when the client asks for them. `read_committed` reads up to the last stable offset.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{FetchRequest, FetchResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::{debug, warn};

use super::fetch_encode::{self, FetchOut, PartitionOut, Records, TopicOut};
use super::{versions, Reply, RequestContext};
use crate::authorizer::Operation;
use crate::error_map::map_read_error;
use crate::fetch_session::{FetchTarget, PartitionMark, SessionMode};
use crate::partition::Partition;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(0, 16);

/// Longest long-poll honoured, whatever the client asks.
const MAX_WAIT_CAP_MS: i32 = 30_000;

struct Plan {
    version: i16,
    correlation_id: i32,
    read_committed: bool,
    max_bytes: usize,
    min_bytes: usize,
    mode: SessionMode,
    targets: Vec<FetchTarget>,
    /// Topics the request named that do not exist: (name, id, partitions).
    /// Topics answered with an error only: unknown, or not readable by this principal.
    unknown: Vec<(String, uuid::Uuid, Vec<i32>, ResponseError)>,
    /// Whose fetch this is (its response's bytes count against its fetch quota).
    session: Arc<oxbow_net::Session>,
}

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: FetchRequest) -> Reply {
    let version = ctx.api_version;
    let mut targets = Vec::new();
    let mut unknown = Vec::new();
    for topic in &req.topics {
        let state = if version >= 13 {
            broker.metadata.topics.get_by_id(&topic.topic_id)
        } else {
            broker.topic(topic.topic.0.as_str())
        };
        let parts = || topic.partitions.iter().map(|p| p.partition).collect();
        let Some(state) = state else {
            let code = if version >= 13 {
                ResponseError::UnknownTopicId
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            unknown.push((topic.topic.0.to_string(), topic.topic_id, parts(), code));
            continue;
        };
        if !ctx.authorize_topic(Operation::Read, &state.meta.name) {
            let code = ResponseError::TopicAuthorizationFailed;
            unknown.push((topic.topic.0.to_string(), topic.topic_id, parts(), code));
            continue;
        }
        for p in &topic.partitions {
            targets.push(FetchTarget {
                topic: state.meta.name.clone(),
                topic_id: state.meta.id,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
            });
        }
    }
    let forgotten: Vec<(String, i32)> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|f| {
            let name = if version >= 13 {
                broker
                    .metadata
                    .topics
                    .get_by_id(&f.topic_id)
                    .map(|t| t.meta.name.clone())
                    .unwrap_or_default()
            } else {
                f.topic.0.to_string()
            };
            f.partitions.iter().map(move |p| (name.clone(), *p))
        })
        .collect();
    let (mode, targets) = if version >= 7 {
        match broker
            .fetch_sessions
            .begin(req.session_id, req.session_epoch, targets, &forgotten)
        {
            Ok(x) => x,
            Err(code) => {
                debug!(peer = %ctx.peer(), client_id = ctx.client_id(), ?code, "fetch session error");
                let resp = FetchResponse::default()
                    .with_error_code(code.code())
                    .with_session_id(req.session_id);
                return Reply::Now(ResponseKind::Fetch(resp));
            }
        }
    } else {
        (SessionMode::Sessionless, targets)
    };
    let plan = Plan {
        version,
        correlation_id: ctx.correlation_id,
        read_committed: req.isolation_level == 1,
        max_bytes: usize::try_from(req.max_bytes).unwrap_or(0).max(1),
        min_bytes: usize::try_from(req.min_bytes).unwrap_or(0),
        mode,
        targets,
        unknown,
        session: ctx.session.clone(),
    };
    let partitions: Vec<Option<Arc<Partition>>> = plan
        .targets
        .iter()
        .map(|t| broker.partition(&t.topic, t.partition))
        .collect();

    let max_wait = req.max_wait_ms.clamp(0, MAX_WAIT_CAP_MS);
    let catching_up = plan.targets.iter().zip(&partitions).any(|(t, p)| {
        p.as_ref()
            .is_some_and(|p| p.log.read_may_block(t.fetch_offset))
    });
    if catching_up {
        // Even locating the batch may wait for the disk: keep the whole read off the async
        // threads that serve producers.
        let broker = broker.clone();
        let (version, correlation_id) = (plan.version, plan.correlation_id);
        return Reply::LaterEncoded(Box::pin(async move {
            let (plan, partitions, pass) = match tokio::task::spawn_blocking(move || {
                let pass = read_once(&plan, &partitions);
                (plan, partitions, pass)
            })
            .await
            {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(error = %e, "catch-up read task failed");
                    let out = FetchOut {
                        error_code: ResponseError::UnknownServerError.code(),
                        ..FetchOut::default()
                    };
                    return fetch_encode::encode(version, correlation_id, &out);
                }
            };
            let pass = read_cold(&partitions, pass).await;
            assemble(&broker, &plan, pass)
        }));
    }
    let pass = read_once(&plan, &partitions);
    let ready = pass.total >= plan.min_bytes
        || pass.any_error
        || max_wait == 0
        || partitions.iter().all(Option::is_none);
    if ready && !pass.has_cold() {
        return Reply::NowEncoded(assemble(broker, &plan, pass));
    }
    let broker = broker.clone();
    if ready {
        return Reply::LaterEncoded(Box::pin(async move {
            let pass = read_cold(&partitions, pass).await;
            assemble(&broker, &plan, pass)
        }));
    }
    Reply::LaterEncoded(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(max_wait as u64);
        loop {
            let live: Vec<&Arc<Partition>> = partitions.iter().flatten().collect();
            let mut waits: Vec<_> = live.iter().map(|p| Box::pin(p.data_arrived())).collect();
            for w in &mut waits {
                w.as_mut().enable();
            }
            let pass = read_once(&plan, &partitions);
            if pass.total >= plan.min_bytes
                || pass.any_error
                || tokio::time::Instant::now() >= deadline
            {
                let pass = read_cold(&partitions, pass).await;
                return assemble(&broker, &plan, pass);
            }
            tokio::select! {
                _ = futures::future::select_all(waits) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    let pass = read_once(&plan, &partitions);
                    let pass = read_cold(&partitions, pass).await;
                    return assemble(&broker, &plan, pass);
                }
            }
        }
    }))
}

/// One read over every partition of a fetch.
struct Pass {
    parts: Vec<PartitionOut>,
    marks: Vec<PartitionMark>,
    news: Vec<bool>,
    total: usize,
    any_error: bool,
}

impl Pass {
    /// Whether some records lie in older segments (a reader catching up).
    fn has_cold(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(&p.records, Records::File(f) if f.cold))
    }
}

/// Ranges the storage engine marked cold (a reader catching up while producers wait for fsyncs)
/// are prepared by the engine before they are sent (see `PartitionLog::warm`).
async fn read_cold(partitions: &[Option<Arc<Partition>>], mut pass: Pass) -> Pass {
    for (part, partition) in pass.parts.iter_mut().zip(partitions) {
        let (Records::File(f), Some(partition)) = (&part.records, partition) else {
            continue;
        };
        if !f.cold {
            continue;
        }
        part.records = match partition.log.warm(f.clone()).await {
            Ok(warm) => Records::File(warm),
            Err(e) => {
                tracing::warn!(topic = partition.tp.topic, partition = part.index, error = %e, "reading an older segment failed");
                Records::Bytes(Bytes::new())
            }
        };
    }
    pass
}

fn read_once(plan: &Plan, partitions: &[Option<Arc<Partition>>]) -> Pass {
    let mut remaining = plan.max_bytes;
    let mut total = 0usize;
    let mut any_error = false;
    let mut parts = Vec::with_capacity(plan.targets.len());
    let mut marks = Vec::with_capacity(plan.targets.len());
    let mut news = Vec::with_capacity(plan.targets.len());
    for (target, partition) in plan.targets.iter().zip(partitions) {
        let mut out = PartitionOut {
            index: target.partition,
            error_code: 0,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            aborted: if plan.read_committed {
                Some(Vec::new())
            } else {
                None
            },
            records: Records::Bytes(Bytes::new()),
        };
        match partition {
            None => out.error_code = ResponseError::UnknownTopicOrPartition.code(),
            Some(p) => {
                let log = &p.log;
                let upper = if plan.read_committed {
                    log.last_stable_offset()
                } else {
                    log.high_watermark()
                };
                let limit = usize::try_from(target.max_bytes)
                    .unwrap_or(0)
                    .min(remaining);
                let min_one = total == 0;
                match log.read_slice(target.fetch_offset, limit, upper, min_one) {
                    Ok((r, slice)) => {
                        out.high_watermark = r.high_watermark;
                        out.last_stable_offset = r.last_stable_offset;
                        out.log_start_offset = r.log_start_offset;
                        out.records = match slice {
                            Some(f) => Records::File(f),
                            None => Records::Bytes(r.records),
                        };
                        let n = out.records.len();
                        if plan.read_committed && n > 0 {
                            // Aborted transactions the returned batches may hold: the client
                            // drops their batches (it reads only up to the LSO).
                            out.aborted = Some(
                                log.aborted_transactions(target.fetch_offset, upper)
                                    .into_iter()
                                    .map(|a| (a.producer_id, a.first_offset))
                                    .collect(),
                            );
                        }
                        total += n;
                        remaining = remaining.saturating_sub(n);
                    }
                    Err(e) => {
                        out.error_code = map_read_error(&e).code();
                        out.high_watermark = log.high_watermark();
                        out.last_stable_offset = log.last_stable_offset();
                        out.log_start_offset = log.log_start_offset();
                    }
                }
            }
        }
        if out.error_code != 0 {
            any_error = true;
        }
        marks.push(PartitionMark {
            high_watermark: out.high_watermark,
            last_stable_offset: out.last_stable_offset,
            log_start_offset: out.log_start_offset,
        });
        news.push(out.error_code != 0 || !out.records.is_empty());
        parts.push(out);
    }
    Pass {
        parts,
        marks,
        news,
        total,
        any_error: any_error || !plan.unknown.is_empty(),
    }
}

/// Builds and encodes the response from a pass, recording in the fetch session what it carries.
fn assemble(broker: &Broker, plan: &Plan, pass: Pass) -> Vec<fetch_encode::Chunk> {
    let Pass {
        parts, marks, news, ..
    } = pass;
    let include = broker
        .fetch_sessions
        .finish(plan.mode, &plan.targets, &marks, &news);
    // Group partitions by topic, keeping request order.
    let mut topics: Vec<TopicOut> = Vec::new();
    let mut counted: Option<(&str, std::sync::Arc<crate::metrics::TopicCounters>)> = None;
    for ((target, mut part), keep) in plan.targets.iter().zip(parts).zip(include) {
        if plan.version < 4 && !part.records.is_empty() {
            down_convert(&mut part, plan.version, &target.topic);
        }
        // Every partition asked counts (also those an incremental session leaves out).
        let counters = match &counted {
            Some((t, c)) if *t == target.topic => c.clone(),
            _ => {
                let c = broker.metrics.topic(&target.topic);
                counted = Some((&target.topic, c.clone()));
                c
            }
        };
        broker
            .metrics
            .fetched(&counters, part.records.len() as u64, part.error_code != 0);
        if !keep {
            continue;
        }
        match topics
            .iter_mut()
            .find(|t| t.name == target.topic && t.id == target.topic_id)
        {
            Some(t) => t.partitions.push(part),
            None => topics.push(TopicOut {
                name: target.topic.clone(),
                id: target.topic_id,
                partitions: vec![part],
            }),
        }
    }
    for (name, id, indexes, code) in &plan.unknown {
        let partitions = indexes
            .iter()
            .map(|p| PartitionOut {
                index: *p,
                error_code: code.code(),
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                aborted: None,
                records: Records::Bytes(Bytes::new()),
            })
            .collect();
        topics.push(TopicOut {
            name: name.clone(),
            id: *id,
            partitions,
        });
    }
    let session_id = match plan.mode {
        SessionMode::Sessionless => 0,
        SessionMode::New(id) | SessionMode::Incremental(id) => id,
    };
    let out = FetchOut {
        error_code: 0,
        session_id,
        topics,
    };
    let mut chunks = fetch_encode::encode(plan.version, plan.correlation_id, &out);
    let bytes = chunks.iter().map(fetch_encode::Chunk::len).sum();
    let throttle = broker.quotas.record_fetch(&plan.session, bytes);
    if !throttle.is_zero() {
        // The data is answered and the connection muted: the next fetch waits out the throttle.
        use crate::quota::reply::{mute_and_audit, patch_fetch_throttle};
        let api = kafka_protocol::messages::ApiKey::Fetch;
        mute_and_audit(&broker.audit, &plan.session, api, &throttle);
        patch_fetch_throttle(&mut chunks, plan.version, throttle.millis());
    }
    chunks
}

/// Fetch v0–v3: the partition's v2 batches as a message set (magic 0 for v0–v1, 1 for v2–v3),
/// read from the segment file for these clients only.
fn down_convert(part: &mut PartitionOut, version: i16, topic: &str) {
    let bytes = match &part.records {
        Records::Bytes(b) => Ok(b.clone()),
        Records::File(f) => {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; f.len];
            oxbow_storage::blocking(|| f.file.read_exact_at(&mut buf, f.position))
                .map(|()| Bytes::from(buf))
                .map_err(|e| e.to_string())
        }
    };
    let magic = if version < 2 { 0 } else { 1 };
    match bytes.and_then(|b| crate::legacy_records::down_convert(&b, magic)) {
        Ok(set) => part.records = Records::Bytes(set),
        Err(e) => {
            warn!(
                topic,
                partition = part.index,
                version,
                error = e,
                "cannot down-convert records for an old client"
            );
            part.records = Records::Bytes(Bytes::new());
            part.error_code = ResponseError::UnknownServerError.code();
        }
    }
}
