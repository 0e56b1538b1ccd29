//! Topic `compression.type`: a topic set to a codec (`uncompressed`, `gzip`, `snappy`, `lz4`,
//! `zstd`) stores every batch in that codec. A produced batch already in it is appended as it
//! came (the zero-copy path); one in another codec is decoded and encoded again in the topic's,
//! keeping each record (offset delta, timestamp, key, value, headers) and the batch's producer
//! id, epoch, sequence and transactional flag, so idempotence and transactions are unaffected.
//! `producer` (the default) keeps whatever the producer sent.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

/// The codec is the low 3 bits of a batch's attributes.
const CODEC_MASK: i16 = 0x07;

/// The codec id of a `compression.type` value (`None` for `producer` or anything else).
pub fn codec_id(value: &str) -> Option<u8> {
    match value {
        "uncompressed" => Some(0),
        "gzip" => Some(1),
        "snappy" => Some(2),
        "lz4" => Some(3),
        "zstd" => Some(4),
        _ => None,
    }
}

/// The encoder's codec for a batch codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
pub fn compression(codec: u8) -> Compression {
    match codec {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    }
}

/// Each batch's (start, end, codec) in a produce request's records; `None` if they do not
/// frame to the end (the log's validation then names the problem).
fn batches(records: &[u8]) -> Option<Vec<(usize, usize, u8)>> {
    let parts: Vec<_> = oxbow_storage::batch::framed(records)
        .map(|(at, h)| (at, at + h.size(), (h.attributes & CODEC_MASK) as u8))
        .collect();
    (parts.last().map_or(0, |p| p.1) == records.len()).then_some(parts)
}

/// Records as one v2 batch in `compression`, offsets made relative to the first. Records without
/// a producer get sequences the encoder keeps in one batch (it starts a new batch whenever
/// offset − sequence changes; the batch's base sequence stays −1).
pub fn encode_batch(
    mut records: Vec<Record>,
    compression: Compression,
    out: &mut BytesMut,
) -> Result<(), String> {
    let first = records.first().map_or(0, |r| r.offset);
    for (i, r) in records.iter_mut().enumerate() {
        r.offset -= first;
        if r.producer_id < 0 {
            r.sequence = i as i32 - 1;
        }
    }
    RecordBatchEncoder::encode(
        out,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| format!("cannot encode the record batch: {e}"))
}

/// The records in the topic's codec: the same bytes when every batch already is (or the topic
/// keeps the producer's), else re-encoded. `Err` with a reason when a batch cannot be decoded.
pub fn to_topic_codec(codec: Option<u8>, records: Bytes) -> Result<Bytes, String> {
    let Some(codec) = codec else {
        return Ok(records);
    };
    let Some(parts) = batches(&records) else {
        return Ok(records);
    };
    if parts.iter().all(|(_, _, c)| *c == codec) {
        return Ok(records);
    }
    let mut out = BytesMut::with_capacity(records.len());
    for (start, end, c) in parts {
        let original = records.slice(start..end);
        if c == codec {
            out.extend_from_slice(&original);
            continue;
        }
        let mut buf = original;
        let set = RecordBatchDecoder::decode(&mut buf)
            .map_err(|e| format!("cannot decode the batch to recompress it: {e}"))?;
        encode_batch(set.records, compression(codec), &mut out)?;
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::TimestampType;

    fn batch(compression: Compression, producer_id: i64) -> Bytes {
        let recs: Vec<Record> = (0..5)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch: if producer_id < 0 { -1 } else { 3 },
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: if producer_id < 0 {
                    i as i32 - 1
                } else {
                    10 + i as i32
                },
                timestamp: 1_000 + i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'x'; 200])),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            recs.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn given_a_batch_in_another_codec_when_converted_should_keep_records_and_producer() {
        for producer_id in [-1, 42] {
            let original = batch(Compression::None, producer_id);
            let lz4 = to_topic_codec(Some(3), original.clone()).unwrap();
            let parts = batches(&lz4).unwrap();
            assert_eq!(parts.len(), 1, "one batch in, one batch out");
            assert_eq!(parts[0].2, 3);
            assert!(lz4.len() < original.len());
            let mut a = original.clone();
            let mut b = lz4.clone();
            let before = RecordBatchDecoder::decode(&mut a).unwrap().records;
            let after = RecordBatchDecoder::decode(&mut b).unwrap().records;
            assert_eq!(before.len(), after.len());
            for (x, y) in before.iter().zip(&after) {
                assert_eq!(
                    (x.offset, x.timestamp, &x.key, &x.value),
                    (y.offset, y.timestamp, &y.key, &y.value)
                );
                assert_eq!(
                    (x.producer_id, x.producer_epoch, x.sequence),
                    (y.producer_id, y.producer_epoch, y.sequence)
                );
            }
        }
    }

    #[test]
    fn given_a_batch_in_the_topic_codec_when_converted_should_keep_the_same_bytes() {
        let lz4 = batch(Compression::Lz4, -1);
        let same = to_topic_codec(Some(3), lz4.clone()).unwrap();
        assert_eq!(same.as_ptr(), lz4.as_ptr(), "no copy");
        assert_eq!(
            to_topic_codec(None, lz4.clone()).unwrap().as_ptr(),
            lz4.as_ptr()
        );
    }
}
