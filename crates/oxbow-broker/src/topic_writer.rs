//! Writing records into a topic from inside the broker: the lake's dead-letter records, with
//! headers. The topic is created with one partition when it does not exist; the records go
//! through the internal append path of partition 0 as one batch, and the returned future
//! completes once the flusher has made them durable.

use bytes::Bytes;
use futures::future::BoxFuture;
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use oxbow_coordinator::context::CoordinatorContext;

use crate::Broker;

/// One record to write.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// CreateTime, ms since the epoch.
    pub timestamp: i64,
    pub headers: Vec<(String, Bytes)>,
}

fn encode(records: &[OwnedRecord]) -> Result<Bytes, String> {
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

impl Broker {
    /// Appends `records` to partition 0 of `topic` (created with one partition if missing);
    /// completes once they are durable.
    pub fn append_records(
        &self,
        topic: &str,
        records: &[OwnedRecord],
    ) -> BoxFuture<'static, Result<(), String>> {
        let written = (|| {
            if records.is_empty() {
                return Ok(None);
            }
            if self.internal_log(topic).is_none() {
                self.create_internal_topic(topic, &[])?;
            }
            let log = self
                .internal_log(topic)
                .ok_or_else(|| format!("topic {topic} could not be created"))?;
            let batch = encode(records)?;
            let now = crate::now_ms();
            let info = if log.append_may_block(batch.len()) {
                oxbow_storage::blocking(|| log.append_internal(&batch, now))
            } else {
                log.append_internal(&batch, now)
            }
            .map_err(|e| format!("appending to {topic}: {e}"))?;
            if let Some(p) = self.partition(topic, 0) {
                p.notify_data();
            }
            Ok::<_, String>(Some(self.flush(vec![(log, info.last_offset + 1)])))
        })();
        let topic = topic.to_string();
        Box::pin(async move {
            let Some(flushed) = written? else {
                return Ok(());
            };
            match flushed.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("fsync of {topic} failed: {e}")),
                Err(_) => Err("the flusher stopped".into()),
            }
        })
    }
}
