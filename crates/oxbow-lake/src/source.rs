//! Where the lake reads topics: committed records of each partition, as a `read_committed`
//! consumer sees them (records of aborted transactions and control batches left out). The
//! broker implements [`TopicSource`] over its own logs, so the lake reads with Kafka semantics
//! and never over the network.

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;

/// One committed record.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub offset: i64,
    /// CreateTime or LogAppendTime, ms since the epoch.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// What one read of a partition returned.
#[derive(Debug, Clone, Default)]
pub struct SourceRead {
    /// Committed records from the asked offset on, in offset order.
    pub records: Vec<SourceRecord>,
    /// Where the next read starts: past every record, marker and aborted record read.
    pub next_offset: i64,
    /// The partition's last stable offset: the records below it are decided.
    pub stable_offset: i64,
    /// The first offset still in the log (retention may have removed what was not landed).
    pub log_start_offset: i64,
}

/// A record the table could not take, on its way to the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    /// `oxbow.lake.error`, `oxbow.lake.topic`, `oxbow.lake.partition`, `oxbow.lake.offset`.
    pub headers: Vec<(String, Bytes)>,
}

pub trait TopicSource: Send + Sync + 'static {
    /// The topic's partition count (None: no such topic).
    fn partition_count(&self, topic: &str) -> Option<i32>;

    /// Committed records of one partition from `offset` on (from the log start if `offset` is
    /// below it), about `max_bytes` of them. May wait for the disk.
    fn read(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<SourceRead, String>;

    /// Completes when any partition of `topic` may have new records, or after `timeout`.
    fn wait_for_data(&self, topic: &str, timeout: Duration) -> BoxFuture<'static, ()>;

    /// Appends `records` to `topic` (created with one partition if it does not exist) and
    /// completes once they are durable.
    fn dead_letter(
        &self,
        topic: &str,
        records: Vec<DeadLetter>,
    ) -> BoxFuture<'static, Result<(), String>>;
}
