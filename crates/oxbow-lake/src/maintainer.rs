//! When a table's maintenance ([`crate::maintenance`]: compaction, vacuum) runs.
//!
//! An **append** table is maintained by a task of its own beside its sink, through its own handle
//! on the table, so landing never waits while files are rewritten (a 16-file compaction took
//! 5.6 s, and nothing landed meanwhile when it ran between commits). Delta's optimistic commits
//! let the two commit in either order: a compaction removes and adds files with `dataChange`
//! false and records no `txn`, the sink only adds files, so neither conflicts with the other
//! and each commit retries over the other's version. A compaction that does conflict (the sink
//! added columns meanwhile) is given up and tried again after the next commit.
//!
//! An **upsert** table is maintained by its sink between its own commits instead. A MERGE that
//! rewrote a file which a compaction had just replaced would bring that file's old rows back
//! (the compacted copy still holds them), and delta-rs's conflict check does not catch it: it
//! passes over removes with `dataChange` false. So the two never overlap there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use crate::landing::Mode;
use crate::maintenance::CompactionPolicy;
use crate::status::LakeStatus;
use crate::table::{LakeTable, TableError};

/// One table's maintenance: what it does and when it last vacuumed.
pub struct Maintenance {
    topic: String,
    /// None: never compact.
    compaction: Option<CompactionPolicy>,
    vacuum_retention: Duration,
    last_vacuum: Instant,
    status: LakeStatus,
}

impl Maintenance {
    pub fn new(
        topic: &str,
        compaction: Option<CompactionPolicy>,
        vacuum_retention: Duration,
        status: LakeStatus,
    ) -> Self {
        Maintenance {
            topic: topic.to_string(),
            compaction,
            vacuum_retention,
            last_vacuum: Instant::now(),
            status,
        }
    }

    /// Compaction when a partition has gathered enough small files; vacuum when its interval
    /// (the retention, at most an hour) has passed.
    pub async fn run_once(&mut self, table: &mut LakeTable) -> Result<(), TableError> {
        let topic = self.topic.as_str();
        if let Some(policy) = self.compaction {
            let started = Instant::now();
            let replaced = table.compact(policy).await?;
            if replaced > 0 {
                let files = table.files();
                info!(
                    topic,
                    files = replaced,
                    now = files,
                    ms = started.elapsed().as_millis() as u64,
                    "lake table compacted"
                );
                self.status.update(topic, |s| {
                    s.compactions += 1;
                    s.files_compacted += replaced as u64;
                    s.files = files;
                    s.version = s.version.max(table.version().map(|v| v as i64));
                });
            }
        }
        if self.vacuum_due() {
            self.last_vacuum = Instant::now();
            let deleted = table.vacuum(self.vacuum_retention).await?;
            if deleted > 0 {
                info!(topic, files = deleted, "lake table vacuumed");
                self.status
                    .update(topic, |s| s.files_vacuumed += deleted as u64);
            }
        }
        Ok(())
    }

    /// Whether vacuum's interval (the retention, at most an hour) has passed.
    fn vacuum_due(&self) -> bool {
        self.last_vacuum.elapsed() >= self.vacuum_retention.min(Duration::from_secs(3600))
    }

    /// Runs beside the sink of the table at `path`: a round each time `kick` is notified (after
    /// a commit; kicks during a round make one more round), until `stop`. A round that fails is
    /// logged and the table opened afresh for the next one; landing goes on regardless.
    pub async fn run_beside(
        mut self,
        path: PathBuf,
        kick: Arc<Notify>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut table: Option<LakeTable> = None;
        loop {
            tokio::select! {
                _ = kick.notified() => {}
                changed = stop.changed() => if changed.is_err() {
                    return; // the lake is gone
                }
            }
            if *stop.borrow() {
                return;
            }
            let round = tokio::select! {
                r = self.round(&mut table, &path) => r,
                // Stopping mid-round leaves at most a merged file no version references, as a
                // failed commit does; nothing landed is touched.
                _ = stop.changed() => return,
            };
            if let Err(e) = round {
                warn!(topic = self.topic, path = %path.display(), error = %e,
                    "lake table maintenance failed; landing goes on, and it is tried again after the next commit");
                table = None;
            }
        }
    }

    async fn round(
        &mut self,
        table: &mut Option<LakeTable>,
        path: &std::path::Path,
    ) -> Result<(), TableError> {
        if self.compaction.is_none() && !self.vacuum_due() {
            return Ok(()); // nothing can be due: the table need not be read
        }
        let t = match table {
            Some(t) => {
                t.refresh().await?;
                t
            }
            None => match LakeTable::open_existing(path, &self.topic).await? {
                Some(t) => table.insert(t),
                None => return Ok(()),
            },
        };
        self.run_once(t).await
    }
}

/// How a sink has its table maintained: beside it (append) or between its commits (upsert).
pub enum Upkeep {
    Beside {
        kick: Arc<Notify>,
        task: tokio::task::JoinHandle<()>,
    },
    Between(Maintenance),
}

impl Upkeep {
    /// Starts maintenance for a sink's table at `path`: beside it for an append table.
    pub fn start(
        maintenance: Maintenance,
        mode: &Mode,
        path: PathBuf,
        stop: watch::Receiver<bool>,
    ) -> Self {
        if !matches!(mode, Mode::Append) {
            return Upkeep::Between(maintenance);
        }
        let kick = Arc::new(Notify::new());
        let task = tokio::spawn(maintenance.run_beside(path, kick.clone(), stop));
        Upkeep::Beside { kick, task }
    }

    /// After each of the sink's commits: the task beside is told, or maintenance runs now.
    pub async fn after_commit(&mut self, table: &mut LakeTable) -> Result<(), TableError> {
        match self {
            Upkeep::Beside { kick, .. } => {
                kick.notify_one();
                Ok(())
            }
            Upkeep::Between(m) => m.run_once(table).await,
        }
    }
}

impl Drop for Upkeep {
    /// The task beside ends with its sink (a sink that stopped on an error starts it again).
    fn drop(&mut self) {
        if let Upkeep::Beside { task, .. } = self {
            task.abort();
        }
    }
}
