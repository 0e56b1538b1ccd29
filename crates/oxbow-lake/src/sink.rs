//! One table's sink: tails its topic's partitions from the offsets the table says it landed,
//! gathers records until `flush_interval_ms` has passed since the first of them (or
//! `flush_max_records` / [`FLUSH_MAX_BYTES`] are waiting), decodes them into the table's
//! columns (adding columns for new fields) and commits them with the partitions' next offsets.
//! Nothing is acknowledged anywhere before the commit, so a crash at any point resumes from the
//! table: no record twice, none skipped. A failure (a record that does not decode, a type
//! conflict, a full disk) stops the table with its reason in the status; it is retried every
//! [`RETRY_INTERVAL`] and resumes once the cause is gone, without dropping records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_schema::{Field, Schema, SchemaRef};
use bytes::Bytes;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::decode::DecodeError;
use crate::landing::{Mode, TableSpec};
use crate::maintainer::{Maintenance, Upkeep};
use crate::source::{DeadLetter, SourceRecord, TopicSource};
use crate::status::LakeStatus;
use crate::table::{LakeTable, TableError};

/// A commit as soon as this many bytes of records wait.
pub const FLUSH_MAX_BYTES: usize = 64 << 20;
/// How often a stopped table is tried again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// Bytes asked of one partition per read.
const READ_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("reading the topic: {0}")]
    Read(String),
    #[error("writing to the dead-letter topic: {0}")]
    DeadLetter(String),
}

/// What a sink needs to know.
#[derive(Clone)]
pub struct SinkConfig {
    pub spec: TableSpec,
    pub flush_interval: Duration,
    pub flush_max_records: usize,
    /// None: never compact.
    pub compaction: Option<crate::maintenance::CompactionPolicy>,
    pub vacuum_retention: Duration,
}

pub struct TableSink {
    pub cfg: SinkConfig,
    pub source: Arc<dyn TopicSource>,
    pub status: LakeStatus,
}

impl TableSink {
    /// Runs until `stop` turns true (what is gathered then is committed first).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let topic = self.cfg.spec.topic.clone();
        loop {
            match self.land(&mut stop).await {
                Ok(()) => break,
                Err(e) => {
                    warn!(topic, path = %self.cfg.spec.path.display(), error = %e,
                        "lake table stopped; retrying in {}s", RETRY_INTERVAL.as_secs());
                    self.status.update(&topic, |s| {
                        s.state = "stopped".into();
                        s.error = Some(e.to_string());
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        break;
                    }
                }
            }
        }
        self.status.update(&topic, |s| s.state = "stopped".into());
    }

    fn read(&self, partition: i32, offset: i64) -> Result<crate::source::SourceRead, SinkError> {
        self.source
            .read(&self.cfg.spec.topic, partition, offset, READ_BYTES)
            .map_err(SinkError::Read)
    }

    async fn land(&self, stop: &mut watch::Receiver<bool>) -> Result<(), SinkError> {
        let cfg = &self.cfg;
        let spec = &cfg.spec;
        let topic = spec.topic.as_str();
        let partitions = loop {
            if let Some(n) = self.source.partition_count(topic) {
                break n;
            }
            self.status.update(topic, |s| {
                s.state = "waiting".into();
                s.error = Some(format!("topic {topic} does not exist yet"));
            });
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return Ok(());
            }
        };
        let mut table =
            LakeTable::open(&spec.path, topic, spec.base_fields(), &spec.partition_by).await?;
        let mut landed = table.landed(partitions).await?;
        info!(topic, path = %spec.path.display(), version = ?table.version(), ?landed,
            "lake table open; landing from these offsets");
        self.status.update(topic, |s| {
            s.path = spec.path.display().to_string();
            s.state = "running".into();
            s.error = None;
            s.committed = landed.clone();
            s.version = table.version().map(|v| v as i64);
            s.files = table.files();
        });
        let maintenance = Maintenance::new(
            topic,
            cfg.compaction,
            cfg.vacuum_retention,
            self.status.clone(),
        );
        let mut upkeep = Upkeep::start(maintenance, &spec.mode, spec.path.clone(), stop.clone());
        loop {
            let (rows, read_to, stopping) = self.gather(&landed, stop).await?;
            if rows.is_empty() && read_to == landed {
                if stopping {
                    return Ok(());
                }
                continue;
            }
            let started = Instant::now();
            let (version, rows) = match self.write(&mut table, &rows, &read_to).await {
                Err(SinkError::Decode(e)) if spec.dead_letter.is_some() => {
                    warn!(topic, error = %e, "records that cannot become rows: sending them to the dead-letter topic");
                    let good = self.dead_letter_bad(table.schema().clone(), rows).await?;
                    (self.write(&mut table, &good, &read_to).await?, good)
                }
                written => (written?, rows),
            };
            landed = read_to;
            let now = crate::now_ms();
            self.status.update(topic, |s| {
                s.state = "running".into();
                s.error = None;
                s.committed = landed.clone();
                s.version = Some(version as i64);
                s.last_commit_ms = Some(now);
                s.files = table.files();
                s.rows_landed += rows.len() as u64;
                s.commits += 1;
                s.last_commit_duration_ms = started.elapsed().as_millis() as u64;
            });
            tracing::debug!(topic, version, rows = rows.len(), "lake commit");
            upkeep.after_commit(&mut table).await?;
            if stopping {
                return Ok(());
            }
        }
    }

    /// Commits `rows` (none: only the offsets) with the partitions' next offsets `read_to`,
    /// adding columns for new fields first; returns the Delta version.
    async fn write(
        &self,
        table: &mut LakeTable,
        rows: &[(i32, SourceRecord)],
        read_to: &BTreeMap<i32, i64>,
    ) -> Result<u64, SinkError> {
        let spec = &self.cfg.spec;
        if rows.is_empty() {
            return Ok(table.commit(None, read_to).await?);
        }
        let decoded = spec.decode(rows)?;
        let added = spec.new_fields(table.schema(), &decoded)?;
        if !added.is_empty() {
            let names: Vec<&str> = added.iter().map(|f| f.name().as_str()).collect();
            info!(topic = spec.topic, columns = ?names, "new fields: adding columns to the lake table");
            table.add_columns(&added).await?;
        }
        let batch = spec.batch(table.schema(), &decoded)?;
        Ok(match &spec.mode {
            Mode::Append => table.commit(Some(batch), read_to).await?,
            Mode::Upsert { key, .. } => table.merge(batch, key, read_to).await?,
        })
    }

    /// The records of `rows` that cannot become rows of a table of `schema` (each tried on its own) are
    /// appended to the dead-letter topic with the reason, durably, before the commit that
    /// moves past them (a crash in between sends them again: at least once); returns the others.
    async fn dead_letter_bad(
        &self,
        schema: SchemaRef,
        rows: Vec<(i32, SourceRecord)>,
    ) -> Result<Vec<(i32, SourceRecord)>, SinkError> {
        let spec = &self.cfg.spec;
        let Some(dlq) = spec.dead_letter.as_deref() else {
            return Ok(rows);
        };
        let mut good = Vec::with_capacity(rows.len());
        let mut dead = Vec::new();
        for row in rows {
            match fits(spec, &schema, std::slice::from_ref(&row)) {
                Ok(()) => good.push(row),
                Err(e) => dead.push(dead_letter(&spec.topic, &row, &e.to_string())),
            }
        }
        let n = dead.len();
        if n > 0 {
            self.source
                .dead_letter(dlq, dead)
                .await
                .map_err(SinkError::DeadLetter)?;
            warn!(
                topic = spec.topic,
                dead_letter_topic = dlq,
                records = n,
                "records sent to the dead-letter topic"
            );
            self.status
                .update(&spec.topic, |s| s.records_dead_lettered += n as u64);
        }
        Ok(good)
    }

    /// Reads from `landed` until a commit is due (or `stop`): the records, the offsets read to,
    /// and whether the sink is stopping.
    async fn gather(
        &self,
        landed: &BTreeMap<i32, i64>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(Vec<(i32, SourceRecord)>, BTreeMap<i32, i64>, bool), SinkError> {
        let cfg = &self.cfg;
        let topic = cfg.spec.topic.as_str();
        let mut read_to = landed.clone();
        let mut rows: Vec<(i32, SourceRecord)> = Vec::new();
        let mut bytes = 0usize;
        let mut first_at: Option<Instant> = None;
        loop {
            let partitions = self.source.partition_count(topic).unwrap_or(0);
            let mut lag = 0i64;
            let mut progressed = false;
            for p in 0..partitions {
                let at = *read_to.entry(p).or_insert(0);
                let r = tokio::task::block_in_place(|| self.read(p, at))?;
                if r.log_start_offset > at && at > 0 {
                    warn!(
                        topic,
                        partition = p,
                        from = at,
                        to = r.log_start_offset,
                        "records removed by retention before they were landed"
                    );
                }
                // Take no more than a commit holds; the rest is read again for the next one.
                let room = cfg.flush_max_records.saturating_sub(rows.len());
                let mut next = r.next_offset;
                let mut records = r.records;
                if records.len() > room {
                    next = records[room].offset;
                    records.truncate(room);
                }
                progressed |= next != at;
                for rec in records {
                    bytes += rec.value.as_ref().map_or(0, |v| v.len()) + 64;
                    rows.push((p, rec));
                }
                read_to.insert(p, next);
                lag += (r.stable_offset - next).max(0);
            }
            if progressed && first_at.is_none() {
                first_at = Some(Instant::now());
            }
            let oldest = rows.first().map(|(_, r)| r.timestamp);
            self.status.update(topic, |s| {
                s.lag_records = lag + rows.len() as i64;
                s.lag_seconds = oldest
                    .map(|ts| ((crate::now_ms() - ts) as f64 / 1000.0).max(0.0))
                    .unwrap_or(0.0);
            });
            let due = first_at.is_some_and(|t| t.elapsed() >= cfg.flush_interval);
            if rows.len() >= cfg.flush_max_records || bytes >= FLUSH_MAX_BYTES || due {
                return Ok((rows, read_to, false));
            }
            if *stop.borrow() {
                return Ok((rows, read_to, true));
            }
            if progressed && lag > 0 {
                continue; // more to read at once
            }
            let wait = match first_at {
                Some(t) => cfg.flush_interval.saturating_sub(t.elapsed()),
                None => Duration::from_secs(1),
            };
            tokio::select! {
                _ = self.source.wait_for_data(topic, wait.min(Duration::from_secs(1))) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// Whether `rows` become rows of a table with `schema` (columns for new fields allowed).
fn fits(
    spec: &TableSpec,
    schema: &SchemaRef,
    rows: &[(i32, SourceRecord)],
) -> Result<(), DecodeError> {
    let decoded = spec.decode(rows)?;
    let added = spec.new_fields(schema, &decoded)?;
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(added);
    spec.batch(&Arc::new(Schema::new(fields)), &decoded)?;
    Ok(())
}

/// A record as it goes to the dead-letter topic: its key, value and timestamp, with the reason
/// and where it came from in headers (as Kafka Connect's `errors.deadletterqueue` does).
fn dead_letter(topic: &str, (partition, r): &(i32, SourceRecord), reason: &str) -> DeadLetter {
    DeadLetter {
        key: r.key.clone(),
        value: r.value.clone(),
        timestamp: r.timestamp,
        headers: vec![
            ("oxbow.lake.error".into(), Bytes::from(reason.to_string())),
            ("oxbow.lake.topic".into(), Bytes::from(topic.to_string())),
            (
                "oxbow.lake.partition".into(),
                Bytes::from(partition.to_string()),
            ),
            (
                "oxbow.lake.offset".into(),
                Bytes::from(r.offset.to_string()),
            ),
        ],
    }
}
