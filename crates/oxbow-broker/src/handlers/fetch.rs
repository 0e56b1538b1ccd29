//! Fetch: read whole batches from each partition's log, long-polling until `min_bytes` arrive or
//! `max_wait_ms` passes, within `max_bytes` and each partition's limit, through incremental fetch
//! sessions when the client asks for them. `read_committed` reads up to the last stable offset.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;
use tracing::debug;

use super::{topic_name, versions, Reply, RequestContext};
use crate::error_map::map_read_error;
use crate::fetch_session::{FetchTarget, PartitionMark, SessionMode};
use crate::partition::Partition;
use crate::Broker;

pub const VERSIONS: VersionRange = versions(4, 12);

/// Longest long-poll honoured, whatever the client asks.
const MAX_WAIT_CAP_MS: i32 = 30_000;

struct Plan {
    version: i16,
    read_committed: bool,
    max_bytes: usize,
    min_bytes: usize,
    mode: SessionMode,
    targets: Vec<FetchTarget>,
    /// Topics the request named that do not exist: (name, id, partitions).
    unknown: Vec<(String, uuid::Uuid, Vec<i32>)>,
}

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: FetchRequest) -> Reply {
    let version = ctx.api_version;
    let mut targets = Vec::new();
    let mut unknown = Vec::new();
    for topic in &req.topics {
        let state = if version >= 13 {
            broker.topics.get_by_id(&topic.topic_id)
        } else {
            broker.topic(topic.topic.0.as_str())
        };
        let Some(state) = state else {
            let parts = topic.partitions.iter().map(|p| p.partition).collect();
            unknown.push((topic.topic.0.to_string(), topic.topic_id, parts));
            continue;
        };
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
                broker.topics.get_by_id(&f.topic_id).map(|t| t.meta.name.clone()).unwrap_or_default()
            } else {
                f.topic.0.to_string()
            };
            f.partitions.iter().map(move |p| (name.clone(), *p))
        })
        .collect();
    let (mode, targets) = if version >= 7 {
        match broker.fetch_sessions.begin(req.session_id, req.session_epoch, targets, &forgotten) {
            Ok(x) => x,
            Err(code) => {
                debug!(peer = %ctx.peer, client_id = ctx.client_id, ?code, "fetch session error");
                let resp = FetchResponse::default().with_error_code(code.code()).with_session_id(req.session_id);
                return Reply::Now(ResponseKind::Fetch(resp));
            }
        }
    } else {
        (SessionMode::Sessionless, targets)
    };
    let plan = Plan {
        version,
        read_committed: req.isolation_level == 1,
        max_bytes: usize::try_from(req.max_bytes).unwrap_or(0).max(1),
        min_bytes: usize::try_from(req.min_bytes).unwrap_or(0),
        mode,
        targets,
        unknown,
    };
    let partitions: Vec<Option<Arc<Partition>>> =
        plan.targets.iter().map(|t| broker.partition(&t.topic, t.partition)).collect();

    let pass = read_once(&plan, &partitions);
    let max_wait = req.max_wait_ms.clamp(0, MAX_WAIT_CAP_MS);
    if pass.total >= plan.min_bytes || pass.any_error || max_wait == 0 || partitions.iter().all(Option::is_none) {
        return Reply::Now(ResponseKind::Fetch(assemble(broker, &plan, pass)));
    }
    let broker = broker.clone();
    Reply::Later(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(max_wait as u64);
        loop {
            let live: Vec<&Arc<Partition>> = partitions.iter().flatten().collect();
            let mut waits: Vec<_> = live.iter().map(|p| Box::pin(p.data_arrived())).collect();
            for w in &mut waits {
                w.as_mut().enable();
            }
            let pass = read_once(&plan, &partitions);
            if pass.total >= plan.min_bytes || pass.any_error || tokio::time::Instant::now() >= deadline {
                return ResponseKind::Fetch(assemble(&broker, &plan, pass));
            }
            tokio::select! {
                _ = futures::future::select_all(waits) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    let pass = read_once(&plan, &partitions);
                    return ResponseKind::Fetch(assemble(&broker, &plan, pass));
                }
            }
        }
    }))
}

/// One read over every partition of a fetch.
struct Pass {
    datas: Vec<PartitionData>,
    marks: Vec<PartitionMark>,
    news: Vec<bool>,
    total: usize,
    any_error: bool,
}

/// Reads each partition once, within the byte limits.
fn read_once(plan: &Plan, partitions: &[Option<Arc<Partition>>]) -> Pass {
    let mut remaining = plan.max_bytes;
    let mut total = 0usize;
    let mut any_error = false;
    let mut datas = Vec::with_capacity(plan.targets.len());
    let mut marks = Vec::with_capacity(plan.targets.len());
    let mut news = Vec::with_capacity(plan.targets.len());
    for (target, partition) in plan.targets.iter().zip(partitions) {
        let mut data = PartitionData::default().with_partition_index(target.partition);
        data.aborted_transactions = if plan.read_committed { Some(Vec::new()) } else { None };
        match partition {
            None => {
                data.error_code = ResponseError::UnknownTopicOrPartition.code();
                data.high_watermark = -1;
            }
            Some(p) => {
                let log = &p.log;
                let upper = if plan.read_committed { log.last_stable_offset() } else { log.high_watermark() };
                let limit = usize::try_from(target.max_bytes).unwrap_or(0).min(remaining);
                let min_one = total == 0;
                match log.read(target.fetch_offset, limit, upper, min_one) {
                    Ok(r) => {
                        data.high_watermark = r.high_watermark;
                        data.last_stable_offset = r.last_stable_offset;
                        data.log_start_offset = r.log_start_offset;
                        let n = r.records.len();
                        total += n;
                        remaining = remaining.saturating_sub(n);
                        data.records = Some(r.records);
                    }
                    Err(e) => {
                        data.error_code = map_read_error(&e).code();
                        data.high_watermark = log.high_watermark();
                        data.last_stable_offset = log.last_stable_offset();
                        data.log_start_offset = log.log_start_offset();
                        data.records = Some(Bytes::new());
                    }
                }
            }
        }
        if data.error_code != 0 {
            any_error = true;
        }
        marks.push(PartitionMark {
            high_watermark: data.high_watermark,
            last_stable_offset: data.last_stable_offset,
            log_start_offset: data.log_start_offset,
        });
        news.push(data.error_code != 0 || data.records.as_ref().is_some_and(|r| !r.is_empty()));
        datas.push(data);
    }
    Pass { datas, marks, news, total, any_error: any_error || !plan.unknown.is_empty() }
}

/// Builds the response from a pass, recording in the fetch session what it carries.
fn assemble(broker: &Broker, plan: &Plan, pass: Pass) -> FetchResponse {
    let Pass { datas, marks, news, .. } = pass;
    let include = broker.fetch_sessions.finish(plan.mode, &plan.targets, &marks, &news);
    // Group partitions by topic, keeping request order.
    let mut order: Vec<(String, uuid::Uuid)> = Vec::new();
    let mut by_topic: BTreeMap<(String, uuid::Uuid), Vec<PartitionData>> = BTreeMap::new();
    for ((target, data), keep) in plan.targets.iter().zip(datas).zip(include) {
        if !keep {
            continue;
        }
        let key = (target.topic.clone(), target.topic_id);
        if !by_topic.contains_key(&key) {
            order.push(key.clone());
        }
        by_topic.entry(key).or_default().push(data);
    }
    let mut responses: Vec<FetchableTopicResponse> = order
        .into_iter()
        .map(|key| {
            let partitions = by_topic.remove(&key).unwrap_or_default();
            topic_response(plan.version, &key.0, key.1, partitions)
        })
        .collect();
    for (name, id, parts) in &plan.unknown {
        let code = if plan.version >= 13 { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        let partitions = parts
            .iter()
            .map(|p| {
                let mut d = PartitionData::default().with_partition_index(*p).with_error_code(code.code());
                d.high_watermark = -1;
                d.aborted_transactions = None;
                d
            })
            .collect();
        responses.push(topic_response(plan.version, name, *id, partitions));
    }
    let session_id = match plan.mode {
        SessionMode::Sessionless => 0,
        SessionMode::New(id) | SessionMode::Incremental(id) => id,
    };
    let mut resp = FetchResponse::default().with_responses(responses);
    if plan.version >= 7 {
        resp.session_id = session_id;
    }
    resp
}

fn topic_response(version: i16, name: &str, id: uuid::Uuid, partitions: Vec<PartitionData>) -> FetchableTopicResponse {
    let mut t = FetchableTopicResponse::default().with_partitions(partitions);
    if version >= 13 {
        t.topic_id = id;
    } else {
        t.topic = topic_name(name);
    }
    t
}
