//! The tables' status for people and monitors: `/lake/status` (JSON, what `oxbow lake status`
//! prints) and `oxbow_lake_*` series in `/metrics`.

use axum::routing::get;
use axum::{Json, Router};
use oxbow_metrics::text::Exposition;

use crate::status::{LakeStatus, TableStatus};

/// `GET /lake/status`: every table's status, as JSON.
pub fn router(status: LakeStatus) -> Router {
    Router::new().route(
        "/lake/status",
        get(move || {
            let s = status.clone();
            async move { Json(serde_json::json!({ "tables": s.snapshot() })) }
        }),
    )
}

/// Appends the `oxbow_lake_*` families.
pub fn collect(status: &LakeStatus, out: &mut Exposition) {
    let tables: Vec<TableStatus> = status.snapshot();
    if tables.is_empty() {
        return;
    }
    let per_table = |f: fn(&TableStatus) -> f64| -> Vec<(Vec<(&str, &str)>, f64)> {
        tables
            .iter()
            .map(|t| (vec![("topic", t.topic.as_str())], f(t)))
            .collect()
    };
    out.gauge(
        "oxbow_lake_table_up",
        "1 while the table lands records, 0 while it is stopped (see /lake/status for why)",
        per_table(|t| f64::from(u8::from(t.state == "running"))),
    );
    out.gauge(
        "oxbow_lake_lag_records",
        "Committed records of the topic not yet in the table",
        per_table(|t| t.lag_records as f64),
    );
    out.gauge(
        "oxbow_lake_lag_seconds",
        "Age of the oldest record not yet in the table",
        per_table(|t| t.lag_seconds),
    );
    out.gauge(
        "oxbow_lake_table_files",
        "Live data files of the table",
        per_table(|t| t.files as f64),
    );
    out.gauge(
        "oxbow_lake_table_version",
        "The table's Delta version",
        per_table(|t| t.version.unwrap_or(-1) as f64),
    );
    out.gauge(
        "oxbow_lake_last_commit_timestamp_seconds",
        "When the table's last commit was made (Unix time)",
        per_table(|t| t.last_commit_ms.map_or(0.0, |ms| ms as f64 / 1000.0)),
    );
    out.gauge(
        "oxbow_lake_last_commit_duration_seconds",
        "How long the last commit took (decoding, Parquet files, Delta log)",
        per_table(|t| t.last_commit_duration_ms as f64 / 1000.0),
    );
    out.counter(
        "oxbow_lake_rows_landed",
        "Rows landed since start",
        per_table(|t| t.rows_landed as f64),
    );
    out.counter(
        "oxbow_lake_records_dead_lettered",
        "Records that could not become rows, sent to the table's dead-letter topic since start",
        per_table(|t| t.records_dead_lettered as f64),
    );
    out.counter(
        "oxbow_lake_commits",
        "Table commits since start",
        per_table(|t| t.commits as f64),
    );
    let partitions: Vec<(String, String, f64)> = tables
        .iter()
        .flat_map(|t| {
            t.committed
                .iter()
                .map(|(p, o)| (t.topic.clone(), p.to_string(), *o as f64))
        })
        .collect();
    out.gauge(
        "oxbow_lake_committed_offset",
        "Next offset to land per partition: every record below it is in the table",
        partitions
            .iter()
            .map(|(t, p, o)| (vec![("topic", t.as_str()), ("partition", p.as_str())], *o)),
    );
}
