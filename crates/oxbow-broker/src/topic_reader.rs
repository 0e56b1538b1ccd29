//! Reading a topic inside the broker as a `read_committed` consumer does: up to the last stable
//! offset, control batches and records of aborted transactions left out. The lake's sinks tail
//! topics this way, without a network hop.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use kafka_protocol::records::RecordBatchDecoder;

use crate::partition::Partition;
use crate::Broker;

/// One committed record.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// What one read returned.
#[derive(Debug, Clone, Default)]
pub struct CommittedRead {
    pub records: Vec<CommittedRecord>,
    /// Where the next read starts (past what was read, markers and aborted records included).
    pub next_offset: i64,
    pub stable_offset: i64,
    pub log_start_offset: i64,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicReadError {
    #[error("topic {topic} has no partition {partition}")]
    NoPartition { topic: String, partition: i32 },
    #[error("cannot read {topic}-{partition} at offset {offset}: {source}")]
    Storage {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: oxbow_storage::StorageError,
    },
    #[error("unreadable batch in {topic}-{partition} at offset {offset}: {reason}")]
    Corrupt {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
}

/// A control record's type (its key: version, type): 0 abort, 1 commit.
fn is_abort_marker(key: Option<&Bytes>) -> bool {
    let Some(mut k) = key.cloned() else {
        return false;
    };
    k.remaining() >= 4 && {
        k.advance(2);
        k.get_i16() == 0
    }
}

impl Broker {
    /// Committed records of `topic`-`partition` from `offset` on (the log start if below it),
    /// about `max_bytes` of batches. May wait for the disk: call it off the async threads.
    pub fn read_committed(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<CommittedRead, TopicReadError> {
        let p = self
            .partition(topic, partition)
            .ok_or_else(|| TopicReadError::NoPartition {
                topic: topic.to_string(),
                partition,
            })?;
        let log = &p.log;
        let log_start_offset = log.log_start_offset();
        let from = offset.max(log_start_offset);
        let stable_offset = log.last_stable_offset();
        let mut out = CommittedRead {
            records: Vec::new(),
            next_offset: from,
            stable_offset,
            log_start_offset,
        };
        if from >= stable_offset {
            return Ok(out);
        }
        let read = log
            .read(from, max_bytes, stable_offset, true)
            .map_err(|source| TopicReadError::Storage {
                topic: topic.to_string(),
                partition,
                offset: from,
                source,
            })?;
        let mut aborted = log.aborted_transactions(from, stable_offset);
        aborted.sort_by_key(|a| a.first_offset);
        let mut aborted = aborted.into_iter().peekable();
        let mut aborting = std::collections::HashSet::new();
        let mut buf = read.records.clone();
        let sets =
            RecordBatchDecoder::decode_all(&mut buf).map_err(|e| TopicReadError::Corrupt {
                topic: topic.to_string(),
                partition,
                offset: from,
                reason: e.to_string(),
            })?;
        for set in sets {
            for r in set.records {
                while let Some(a) = aborted.next_if(|a| a.first_offset <= r.offset) {
                    aborting.insert(a.producer_id);
                }
                if r.offset < from || r.offset >= stable_offset {
                    continue;
                }
                out.next_offset = r.offset + 1;
                if r.control {
                    if is_abort_marker(r.key.as_ref()) {
                        aborting.remove(&r.producer_id);
                    }
                    continue;
                }
                if r.transactional && aborting.contains(&r.producer_id) {
                    continue;
                }
                out.records.push(CommittedRecord {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                });
            }
        }
        Ok(out)
    }

    /// Completes when any partition of `topic` gets new records, or after `timeout`.
    pub fn wait_for_data(&self, topic: &str, timeout: Duration) -> BoxFuture<'static, ()> {
        let partitions: Vec<Arc<Partition>> = match self.topic(topic) {
            Some(t) => (0..t.meta.partitions)
                .filter_map(|p| self.partition(topic, p))
                .collect(),
            None => Vec::new(),
        };
        Box::pin(async move {
            if partitions.is_empty() {
                tokio::time::sleep(timeout).await;
                return;
            }
            let waits = partitions.iter().map(|p| Box::pin(p.data_arrived()));
            let _ = tokio::time::timeout(timeout, futures::future::select_all(waits)).await;
        })
    }
}
