//! Kafka's per-record checks on produce (KIP-467's `record_errors`): a compacted topic refuses
//! records without a key (INVALID_RECORD), and CreateTime timestamps outside
//! `message.timestamp.{before,after}.max.ms` of the broker's clock are refused
//! (INVALID_TIMESTAMP). Each bad record is named by its index in the batch with Kafka's message,
//! so the client can tell which records failed. Topics that need neither check (not compacted,
//! no timestamp bounds) are not decoded: their batches stay on the zero-copy append path, and
//! timestamps are first checked against each batch header's base and max timestamps.

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use kafka_protocol::ResponseError;
use oxbow_storage::api::{LogConfig, TimestampType};

/// Why a partition's records are refused, with the bad ones as (batch index, message).
pub struct Refusal {
    pub code: ResponseError,
    pub message: String,
    pub records: Vec<(i32, String)>,
}

/// Whether any batch's base or max timestamp lies outside `[low, high]` (then the records are
/// looked at one by one).
fn headers_out_of_range(records: &[u8], low: i64, high: i64) -> bool {
    oxbow_storage::batch::framed(records)
        .any(|(_, h)| (h.base_timestamp >= 0 && h.base_timestamp < low) || h.max_timestamp > high)
}

/// Checks a partition's records against its log's settings; `None` when they may be appended.
/// Malformed batches are left for the log's own validation, which names the problem.
pub fn check(
    config: &LogConfig,
    records: &Bytes,
    now_ms: i64,
    topic: &str,
    partition: i32,
) -> Option<Refusal> {
    let compacted = config.cleanup_policy.compact;
    let bounded = config.timestamp_type == TimestampType::CreateTime
        && (config.timestamp_before_max_ms < i64::MAX || config.timestamp_after_max_ms < i64::MAX);
    let low = now_ms.saturating_sub(config.timestamp_before_max_ms);
    let high = now_ms.saturating_add(config.timestamp_after_max_ms);
    let check_times = bounded && headers_out_of_range(records, low, high);
    if !compacted && !check_times {
        return None;
    }
    let mut buf = records.clone();
    let sets = RecordBatchDecoder::decode_all(&mut buf).ok()?;
    let mut keyless = Vec::new();
    let mut out_of_range = Vec::new();
    let mut index = 0i32;
    for set in &sets {
        for r in &set.records {
            if compacted && r.key.is_none() && !r.control {
                keyless.push((index, format!(
                    "Compacted topic cannot accept message without key in topic partition {topic}-{partition}."
                )));
            }
            if check_times && r.timestamp >= 0 && (r.timestamp < low || r.timestamp > high) {
                out_of_range.push((index, format!(
                    "Timestamp {} of message with offset {index} is out of range. The timestamp should be within [{low}, {high}]",
                    r.timestamp
                )));
            }
            index += 1;
        }
    }
    let summary = |records: &[(i32, String)]| {
        let first: Vec<&str> = records.iter().take(3).map(|(_, m)| m.as_str()).collect();
        format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            records.len(),
            first.join(", ")
        )
    };
    if !out_of_range.is_empty() {
        return Some(Refusal {
            code: ResponseError::InvalidTimestamp,
            message: summary(&out_of_range),
            records: out_of_range,
        });
    }
    (!keyless.is_empty()).then(|| Refusal {
        code: ResponseError::InvalidRecord,
        message: summary(&keyless),
        records: keyless,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType as WireTs,
    };
    use oxbow_storage::api::CleanupPolicy;

    fn batch(records: &[(Option<&str>, i64)]) -> Bytes {
        let recs: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, (k, ts))| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: WireTs::Creation,
                offset: i as i64,
                sequence: -1,
                timestamp: *ts,
                key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                value: Some(Bytes::from_static(b"v")),
                headers: Default::default(),
                delete_horizon: false,
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &recs,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn given_keyless_records_on_a_compacted_topic_when_checked_should_name_exactly_them() {
        let config = LogConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            ..Default::default()
        };
        let records = batch(&[(Some("a"), 1), (None, 1), (Some("b"), 1), (None, 1)]);
        let r = check(&config, &records, 1, "accounts", 0).unwrap();
        assert_eq!(r.code, ResponseError::InvalidRecord);
        assert_eq!(
            r.records.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [1, 3]
        );
        assert!(r.records[0].1.contains("accounts-0"));
        assert!(check(&LogConfig::default(), &records, 1, "t", 0).is_none());
    }

    #[test]
    fn given_timestamp_bounds_when_records_lie_outside_should_refuse_those() {
        let now = 1_000_000;
        let config = LogConfig {
            timestamp_before_max_ms: 1000,
            timestamp_after_max_ms: 1000,
            ..Default::default()
        };
        let ok = batch(&[(None, now), (None, now - 999)]);
        assert!(check(&config, &ok, now, "t", 0).is_none());
        let bad = batch(&[(None, now), (None, now + 5000), (None, now - 5000)]);
        let r = check(&config, &bad, now, "t", 0).unwrap();
        assert_eq!(r.code, ResponseError::InvalidTimestamp);
        assert_eq!(
            r.records.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [1, 2]
        );
    }
}
