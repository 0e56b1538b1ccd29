//! Each table's progress and health, for `/metrics`, `/lake/status` and `oxbow lake status`.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Serialize;

/// One table, as its sink last reported it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TableStatus {
    pub topic: String,
    pub path: String,
    /// `starting`, `running` or `stopped` (with `error`).
    pub state: String,
    /// Why the table does not advance, if it does not (bad record, schema conflict, disk).
    pub error: Option<String>,
    /// Next offset to land, per partition: everything below is in the table.
    pub committed: BTreeMap<i32, i64>,
    /// Records in the topic not yet in the table (up to the last stable offsets).
    pub lag_records: i64,
    /// Age of the oldest record not yet in the table (0 when caught up), seconds.
    pub lag_seconds: f64,
    /// The table's Delta version after the last commit.
    pub version: Option<i64>,
    /// When the last commit was made (ms since the epoch).
    pub last_commit_ms: Option<i64>,
    /// Live data files in the table.
    pub files: u64,
    /// Rows landed since start.
    pub rows_landed: u64,
    /// Records sent to the dead-letter topic since start (`on_error = "dead-letter"`).
    pub records_dead_lettered: u64,
    /// Table commits since start.
    pub commits: u64,
    /// How long the last commit took (decode, files, Delta log), ms.
    pub last_commit_duration_ms: u64,
    /// Compactions since start, and the small files they replaced.
    pub compactions: u64,
    pub files_compacted: u64,
    /// Unreferenced files deleted by vacuum since start.
    pub files_vacuumed: u64,
}

/// Every table's status, shared between the sinks and whoever reports them.
#[derive(Clone, Default)]
pub struct LakeStatus {
    tables: Arc<RwLock<BTreeMap<String, TableStatus>>>,
}

impl LakeStatus {
    pub fn update(&self, topic: &str, f: impl FnOnce(&mut TableStatus)) {
        let mut tables = self.tables.write();
        let entry = tables
            .entry(topic.to_string())
            .or_insert_with(|| TableStatus {
                topic: topic.to_string(),
                state: "starting".into(),
                ..Default::default()
            });
        f(entry);
    }

    pub fn snapshot(&self) -> Vec<TableStatus> {
        self.tables.read().values().cloned().collect()
    }
}
