//! A state store kept in an internal topic: a compacted, single-partition log of key/value records
//! (a null value deletes its key) and an in-memory view rebuilt from it at start. The group
//! coordinator keeps `__consumer_offsets` this way; transaction state, schemas, ACLs and SCRAM
//! credentials are meant to use the same store with their own record layouts.

use std::sync::Arc;

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafka_protocol::ResponseError;
use oxbow_storage::{PartitionLog, StorageError};
use parking_lot::RwLock;
use tracing::warn;

use crate::context::CoordinatorContext;

/// One internal topic holding a store's records.
pub struct InternalTopicStore {
    topic: &'static str,
    configs: &'static [(&'static str, &'static str)],
    log: RwLock<Option<Arc<dyn PartitionLog>>>,
}

impl InternalTopicStore {
    /// A store in `topic`, created on first use with `configs` (e.g. `cleanup.policy=compact`).
    pub fn new(topic: &'static str, configs: &'static [(&'static str, &'static str)]) -> Self {
        Self {
            topic,
            configs,
            log: RwLock::new(None),
        }
    }

    pub fn topic(&self) -> &'static str {
        self.topic
    }

    /// The topic's log if it already exists (at start, before replay); remembered.
    pub fn open_existing(&self, ctx: &dyn CoordinatorContext) -> Option<Arc<dyn PartitionLog>> {
        let log = ctx.internal_log(self.topic)?;
        *self.log.write() = Some(log.clone());
        Some(log)
    }

    /// The topic's log, creating the topic on first use.
    pub fn ensure(
        &self,
        ctx: &dyn CoordinatorContext,
    ) -> Result<Arc<dyn PartitionLog>, ResponseError> {
        if let Some(log) = self.log.read().clone() {
            return Ok(log);
        }
        let mut slot = self.log.write();
        if let Some(log) = slot.clone() {
            return Ok(log);
        }
        if ctx.internal_log(self.topic).is_none() {
            if let Err(e) = ctx.create_internal_topic(self.topic, self.configs) {
                warn!(topic = self.topic, error = %e, "cannot create internal topic");
            }
        }
        let log = ctx
            .internal_log(self.topic)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        *slot = Some(log.clone());
        Ok(log)
    }

    /// The log, if the store has been opened or created.
    pub fn log(&self) -> Option<Arc<dyn PartitionLog>> {
        self.log.read().clone()
    }
}

/// A record the broker writes itself: no producer, CreateTime `timestamp`.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    pub headers: Vec<(String, Bytes)>,
}

/// Encodes records as one v2 batch (uncompressed).
pub fn encode_records(records: &[OwnedRecord]) -> Result<Bytes, String> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), Some(v.clone())))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &recs, &opts).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

fn key_values(records: &[(Bytes, Option<Bytes>)], now_ms: i64) -> Vec<OwnedRecord> {
    records
        .iter()
        .map(|(key, value)| OwnedRecord {
            key: Some(key.clone()),
            value: value.clone(),
            timestamp: now_ms,
            headers: Vec::new(),
        })
        .collect()
}

/// Encodes key/value records as one v2 batch (uncompressed, CreateTime `now_ms`).
pub fn encode_batch(records: &[(Bytes, Option<Bytes>)], now_ms: i64) -> Result<Bytes, String> {
    encode_records(&key_values(records, now_ms))
}

/// Appends key/value records through the log's internal append path; returns the last offset.
/// Durability is the caller's to wait for ([`CoordinatorContext::flush`]).
pub fn append(
    log: &dyn PartitionLog,
    records: &[(Bytes, Option<Bytes>)],
    now_ms: i64,
) -> Result<i64, StorageError> {
    append_records(log, &key_values(records, now_ms), now_ms)
}

/// Appends records (headers included) through the log's internal append path; returns the
/// last offset. Durability is the caller's to wait for.
pub fn append_records(
    log: &dyn PartitionLog,
    records: &[OwnedRecord],
    now_ms: i64,
) -> Result<i64, StorageError> {
    let batch = encode_records(records).map_err(StorageError::InvalidRecord)?;
    let info = if log.append_may_block(batch.len()) {
        oxbow_storage::blocking(|| log.append_internal(&batch, now_ms))
    } else {
        log.append_internal(&batch, now_ms)
    }?;
    Ok(info.last_offset)
}

/// Reads the whole log in offset order, calling `visit(offset, key, value)` for every keyed
/// record (control records skipped); returns how many were visited. An unreadable batch ends the
/// replay there, with a warning.
pub fn replay(
    log: &dyn PartitionLog,
    mut visit: impl FnMut(i64, Bytes, Option<Bytes>) -> bool,
) -> Result<usize, StorageError> {
    let mut next = log.log_start_offset();
    let end = log.high_watermark();
    let mut count = 0;
    while next < end {
        let read = log.read(next, 4 << 20, end, true)?;
        if read.records.is_empty() {
            break;
        }
        let mut buf = read.records.clone();
        let sets = match RecordBatchDecoder::decode_all(&mut buf) {
            Ok(s) => s,
            Err(e) => {
                let topic = log.topic_partition().topic.clone();
                warn!(topic, offset = next, error = %e, "unreadable batch in internal topic; stopping replay there");
                break;
            }
        };
        let before = next;
        for set in sets {
            for r in set.records {
                if r.offset < next || r.control {
                    continue;
                }
                next = r.offset + 1;
                if let Some(key) = r.key {
                    if visit(r.offset, key, r.value) {
                        count += 1;
                    }
                }
            }
        }
        if next == before {
            break;
        }
    }
    Ok(count)
}
