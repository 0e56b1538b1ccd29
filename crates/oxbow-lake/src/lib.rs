//! Oxbow's lake: topics landed in open Delta tables (delta-rs), exactly once.
//!
//! This crate owns the sinks ([`sink`]: one per `[[lake.tables]]` entry, tailing its topic
//! through [`source::TopicSource`], which the broker implements over its own logs), the
//! decoding of records into columns ([`decode`]), the Delta tables and the offsets recorded in
//! their logs ([`table`]), in a directory or on S3 ([`location`]), upsert tables' copy-on-write
//! MERGE ([`upsert`]), small-file compaction and vacuum ([`maintenance`], run beside landing or
//! between commits: [`maintainer`]), and every table's progress ([`status`], reported by
//! [`report`] in `/lake/status` and `/metrics`). [`Lake::start`] runs the sinks on a runtime of
//! their own ("oxbow-lake" threads), so Parquet encoding never takes the broker's network
//! threads, and registers it as one service of the broker's lifecycle.

pub mod cdc;
pub mod decode;
pub mod key_ranges;
pub mod landing;
pub mod location;
pub mod maintainer;
pub mod maintenance;
pub mod report;
pub mod sink;
pub mod source;
pub mod status;
pub mod table;
pub mod upsert;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use oxbow_config::LakeConfig;
use oxbow_service::Services;
use tokio::sync::watch;

pub use decode::{RegisteredValues, ValueFormat};
pub use source::{SourceRead, SourceRecord, TopicSource};
pub use status::{LakeStatus, TableStatus};

/// The running lake: its tables' status.
#[derive(Clone, Default)]
pub struct Lake {
    pub status: LakeStatus,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub use landing::{root, specs, TableSpec};

impl Lake {
    /// Starts a sink per configured table (none configured: nothing runs).
    pub fn start(
        config: &LakeConfig,
        data_dir: &Path,
        source: Arc<dyn TopicSource>,
        registry: Option<Arc<dyn RegisteredValues>>,
        services: &Services,
    ) -> std::io::Result<Lake> {
        let lake = Lake::default();
        if config.tables.is_empty() {
            return Ok(lake);
        }
        let root = root(config, data_dir);
        let sinks: Vec<sink::TableSink> = specs(config, data_dir, registry)
            .into_iter()
            .map(|spec| sink::TableSink {
                cfg: sink::SinkConfig {
                    spec,
                    flush_interval: Duration::from_millis(config.flush_interval_ms),
                    flush_max_records: config.flush_max_records,
                    compaction: (config.compaction_min_files > 0).then_some(
                        maintenance::CompactionPolicy {
                            min_files: config.compaction_min_files,
                            target_file_bytes: config.target_file_size_bytes,
                        },
                    ),
                    vacuum_retention: Duration::from_millis(config.vacuum_retention_ms),
                },
                source: source.clone(),
                status: lake.status.clone(),
            })
            .collect();
        // Two workers: an append table's compaction (seconds of Parquet decoding and encoding)
        // runs on one while its sink lands on the other.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("oxbow-lake")
            .thread_stack_size(8 << 20)
            .enable_all()
            .build()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let tables = sinks.len();
        let thread = std::thread::Builder::new()
            .name("oxbow-lake".into())
            .stack_size(8 << 20)
            .spawn(move || {
                runtime.block_on(async move {
                    let tasks: Vec<_> = sinks
                        .into_iter()
                        .map(|s| tokio::spawn(s.run(stop_rx.clone())))
                        .collect();
                    for t in tasks {
                        let _ = t.await;
                    }
                });
            })?;
        tracing::info!(tables, root = %root.display(), "lake sinks started");
        services.register("lake", move || {
            let _ = stop_tx.send(true);
            let _ = thread.join();
        });
        Ok(lake)
    }
}
