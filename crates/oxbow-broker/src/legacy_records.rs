//! Record formats for clients older than Kafka 0.11's protocol: Produce v0–v2 bring message
//! sets (magic 0 or 1), converted here to one v2 batch before the append (offsets then assigned
//! by the log as for any batch; the codec kept; magic 0's missing timestamps stay -1, as Kafka
//! converts them); Fetch v0–v3 take the log's v2 batches down-converted to message sets (magic 0
//! for v0–v1, 1 for v2–v3), uncompressed, control batches left out and headers dropped (the old
//! formats have none). Only those clients pay for the conversion: everyone else keeps the
//! zero-copy paths.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Record, RecordBatchDecoder, TimestampType};
use oxbow_protocol::message_set::{self, LegacyRecord};

/// A Produce v0–v2 partition's message set as one v2 batch.
pub fn up_convert(records: &Bytes) -> Result<Bytes, String> {
    let (messages, info) = message_set::decode(records).map_err(|e| e.to_string())?;
    let converted: Vec<Record> = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: if m.log_append_time {
                TimestampType::LogAppend
            } else {
                TimestampType::Creation
            },
            offset: i as i64,
            sequence: -1,
            timestamp: m.timestamp,
            key: m.key,
            value: m.value,
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::with_capacity(records.len() + 64);
    crate::recompress::encode_batch(
        converted,
        crate::recompress::compression(info.codec),
        &mut out,
    )?;
    Ok(out.freeze())
}

/// Whole v2 batches of a log read (a trailing partial batch is left out), minus control batches.
fn data_batches(log_bytes: &Bytes) -> Vec<Bytes> {
    oxbow_storage::batch::framed(log_bytes)
        .filter(|(_, h)| !h.is_control())
        .map(|(at, h)| log_bytes.slice(at..at + h.size()))
        .collect()
}

/// The log's v2 batches as a message set at `magic` (0 or 1).
pub fn down_convert(log_bytes: &Bytes, magic: i8) -> Result<Bytes, String> {
    let mut messages = Vec::new();
    for batch in data_batches(log_bytes) {
        let mut buf = batch;
        let set = RecordBatchDecoder::decode(&mut buf)
            .map_err(|e| format!("cannot read a batch to down-convert it: {e}"))?;
        messages.extend(set.records.into_iter().map(|r| LegacyRecord {
            offset: r.offset,
            timestamp: r.timestamp,
            log_append_time: r.timestamp_type == TimestampType::LogAppend,
            key: r.key,
            value: r.value,
        }));
    }
    Ok(message_set::encode(&messages, magic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_message_set_when_up_and_down_converted_should_keep_every_record() {
        let original = vec![
            LegacyRecord {
                offset: 0,
                timestamp: 1_600_000_000_000,
                log_append_time: false,
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v0")),
            },
            LegacyRecord {
                offset: 1,
                timestamp: 1_600_000_000_001,
                log_append_time: false,
                key: None,
                value: Some(Bytes::from_static(b"v1")),
            },
        ];
        let v2 = up_convert(&message_set::encode(&original, 1)).unwrap();
        assert_eq!(v2[16], 2, "a v2 batch");
        let back = down_convert(&v2, 1).unwrap();
        let (records, info) = message_set::decode(&back).unwrap();
        assert_eq!(records, original);
        assert_eq!(info.magic, 1);
        let (v0, _) = message_set::decode(&down_convert(&v2, 0).unwrap()).unwrap();
        assert_eq!(v0[1].timestamp, -1);
        // A partial trailing batch is left out rather than failing the read.
        let cut = v2.slice(..v2.len() - 3);
        assert!(down_convert(&cut, 1).unwrap().is_empty());
    }
}
