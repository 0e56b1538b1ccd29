//! Burrow's HTTP API v3, answered by the broker, field for field: `/v3/kafka`,
//! `/v3/kafka/{cluster}`, `/v3/kafka/{cluster}/consumer`, `.../consumer/{group}/status` (the
//! partitions not OK) and `.../lag` (every partition), `/v3/kafka/{cluster}/topic` and
//! `/v3/kafka/{cluster}/topic/{topic}` (the partitions' end offsets). Each answer carries
//! `error`, `message` and `request`; an unknown cluster, group or topic is a 404 with
//! `error: true`. Partition objects add `explanation` (the diagnosis in words) and
//! `current_lag_seconds`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{Commit, PartitionReport, PartitionStatus};
use crate::Broker;

#[derive(Clone)]
pub struct BurrowState {
    pub broker: Arc<Broker>,
    pub cluster: String,
}

fn answer(status: StatusCode, uri: &Uri, message: &str, mut body: Value) -> Response {
    if let Value::Object(o) = &mut body {
        o.insert("error".into(), json!(status != StatusCode::OK));
        o.insert("message".into(), json!(message));
        o.insert(
            "request".into(),
            json!({"url": uri.path(), "host": "oxbow"}),
        );
    }
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

fn not_found(uri: &Uri, what: &str) -> Response {
    answer(StatusCode::NOT_FOUND, uri, what, json!({}))
}

fn commit_json(c: Option<Commit>) -> Value {
    match c {
        Some(c) => {
            json!({"offset": c.offset, "timestamp": c.timestamp, "observedAt": c.timestamp, "lag": c.lag})
        }
        None => Value::Null,
    }
}

fn partition_json(group: &str, p: &PartitionReport, broker: &Broker) -> Value {
    let (owner, client_id) = owner_of(broker, group, &p.topic, p.partition);
    json!({
        "topic": p.topic,
        "partition": p.partition,
        "owner": owner,
        "client_id": client_id,
        "status": p.status.name(),
        "start": commit_json(p.start),
        "end": commit_json(p.end),
        "current_lag": p.current_lag,
        "current_lag_seconds": p.lag_seconds,
        "complete": p.complete,
        "explanation": p.explanation,
    })
}

/// The member (host and client id) that owns a partition, if the group has one.
fn owner_of(broker: &Broker, group: &str, topic: &str, partition: i32) -> (String, String) {
    broker.groups.read(group, |g| {
        let Some(g) = g else {
            return (String::new(), String::new());
        };
        let s = g.summary();
        for m in &s.members {
            let assigned = oxbow_coordinator::describe::assignment_partitions(&m.assignment);
            if assigned
                .iter()
                .any(|(t, ps)| t == topic && ps.contains(&partition))
            {
                return (m.client_host.clone(), m.client_id.clone());
            }
        }
        (String::new(), String::new())
    })
}

fn status_json(st: &BurrowState, group: &str, reports: &[PartitionReport], all: bool) -> Value {
    let worst = reports
        .iter()
        .map(|p| p.status)
        .max()
        .unwrap_or(PartitionStatus::Ok);
    let maxlag = reports.iter().max_by_key(|p| p.current_lag);
    let total: i64 = reports.iter().map(|p| p.current_lag).sum();
    let complete = if reports.is_empty() {
        1.0
    } else {
        reports.iter().map(|p| p.complete).sum::<f64>() / reports.len() as f64
    };
    let shown: Vec<Value> = reports
        .iter()
        .filter(|p| all || p.status != PartitionStatus::Ok)
        .map(|p| partition_json(group, p, &st.broker))
        .collect();
    json!({
        "cluster": st.cluster,
        "group": group,
        "status": worst.group_name(),
        "complete": complete,
        "partitions": shown,
        "partition_count": reports.len(),
        "maxlag": maxlag.map(|p| partition_json(group, p, &st.broker)).unwrap_or(Value::Null),
        "totallag": total,
    })
}

async fn clusters(State(st): State<BurrowState>, uri: Uri) -> Response {
    answer(
        StatusCode::OK,
        &uri,
        "cluster list returned",
        json!({"clusters": [st.cluster]}),
    )
}

async fn cluster_detail(
    State(st): State<BurrowState>,
    Path(c): Path<String>,
    uri: Uri,
) -> Response {
    if c != st.cluster {
        return not_found(&uri, "cluster not found");
    }
    let servers: Vec<String> = st
        .broker
        .listeners()
        .iter()
        .map(|(_, a)| a.to_string())
        .collect();
    answer(
        StatusCode::OK,
        &uri,
        "cluster module detail returned",
        json!({"module": {"class-name": "oxbow", "servers": servers, "client-profile": {"name": "oxbow"}}}),
    )
}

async fn consumers(State(st): State<BurrowState>, Path(c): Path<String>, uri: Uri) -> Response {
    if c != st.cluster {
        return not_found(&uri, "cluster not found");
    }
    let mut groups: Vec<String> = st
        .broker
        .groups
        .read_all(|all| all.keys().cloned().collect());
    groups.sort();
    answer(
        StatusCode::OK,
        &uri,
        "consumer list returned",
        json!({"consumers": groups}),
    )
}

async fn group_report(st: &BurrowState, c: &str, group: &str, uri: &Uri, all: bool) -> Response {
    if c != st.cluster {
        return not_found(uri, "cluster not found");
    }
    if !st.broker.groups.read(group, |g| g.is_some()) {
        return not_found(uri, "consumer group not found");
    }
    let (broker, g) = (st.broker.clone(), group.to_string());
    let reports = tokio::task::spawn_blocking(move || broker.lag_monitor.report(&broker, &g))
        .await
        .unwrap_or_default();
    let message = if all {
        "consumer lag returned"
    } else {
        "consumer status returned"
    };
    answer(
        StatusCode::OK,
        uri,
        message,
        json!({"status": status_json(st, group, &reports, all)}),
    )
}

async fn status(
    State(st): State<BurrowState>,
    Path((c, g)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    group_report(&st, &c, &g, &uri, false).await
}

async fn lag(
    State(st): State<BurrowState>,
    Path((c, g)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    group_report(&st, &c, &g, &uri, true).await
}

async fn topics(State(st): State<BurrowState>, Path(c): Path<String>, uri: Uri) -> Response {
    if c != st.cluster {
        return not_found(&uri, "cluster not found");
    }
    let names: Vec<String> = st
        .broker
        .metadata
        .topics
        .all()
        .iter()
        .map(|t| t.meta.name.clone())
        .collect();
    answer(
        StatusCode::OK,
        &uri,
        "topic list returned",
        json!({"topics": names}),
    )
}

async fn topic(
    State(st): State<BurrowState>,
    Path((c, t)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    if c != st.cluster {
        return not_found(&uri, "cluster not found");
    }
    let Some(state) = st.broker.topic(&t) else {
        return not_found(&uri, "topic not found");
    };
    let offsets: Vec<i64> = state
        .partitions
        .iter()
        .map(|p| p.log.high_watermark())
        .collect();
    answer(
        StatusCode::OK,
        &uri,
        "topic offsets returned",
        json!({"offsets": offsets}),
    )
}

/// Burrow's routes for the broker's HTTP listener.
pub fn router(broker: Arc<Broker>, cluster: String) -> Router {
    Router::new()
        .route("/v3/kafka", get(clusters))
        .route("/v3/kafka/{cluster}", get(cluster_detail))
        .route("/v3/kafka/{cluster}/consumer", get(consumers))
        .route("/v3/kafka/{cluster}/consumer/{group}/status", get(status))
        .route("/v3/kafka/{cluster}/consumer/{group}/lag", get(lag))
        .route("/v3/kafka/{cluster}/topic", get(topics))
        .route("/v3/kafka/{cluster}/topic/{topic}", get(topic))
        .with_state(BurrowState { broker, cluster })
}
