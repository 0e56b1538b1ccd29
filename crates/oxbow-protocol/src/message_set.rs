//! Message sets, the record formats before v2 (magic 0 and 1), for clients older than Kafka
//! 0.11's protocol: Produce v0–v2 carry them in, Fetch v0–v3 expect them out.
//!
//! A message set is a sequence of `offset: i64, size: i32, crc: u32, magic: i8, attributes: i8,
//! [timestamp: i64 (magic 1)], key: bytes, value: bytes`; the CRC (CRC-32, IEEE) covers everything
//! from `magic` on. A compressed message is a wrapper whose value is an inner message set,
//! compressed with the codec in the wrapper's attributes (1 gzip, 2 snappy, 3 lz4).
//! [`decode`] reads one (nested at most once, as Kafka writes them) into plain records;
//! [`encode`] writes records uncompressed at a given magic (what a down-converting broker may
//! answer). Everything read is bounded by the input: a hostile size or length is an error.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy};

/// One record of a message set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRecord {
    pub offset: i64,
    /// -1 for magic 0 (no timestamp).
    pub timestamp: i64,
    /// Whether the timestamp is LogAppendTime (magic 1, attribute bit 3).
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// What a message set's messages were written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetInfo {
    pub magic: i8,
    /// The (outer) codec: 0 none, 1 gzip, 2 snappy, 3 lz4.
    pub codec: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageSetError {
    #[error("message set truncated at byte {0}")]
    Truncated(usize),
    #[error("message at byte {at} has size {size}, outside 14..={left}")]
    BadSize { at: usize, size: i32, left: usize },
    #[error(
        "message at byte {at}: CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    Crc {
        at: usize,
        stored: u32,
        computed: u32,
    },
    #[error("message at byte {at} has magic {magic}; only 0 and 1 are message sets")]
    Magic { at: usize, magic: i8 },
    #[error("message at byte {at} uses unknown codec {codec}")]
    Codec { at: usize, codec: u8 },
    #[error("compressed message at byte {at} cannot be decompressed: {reason}")]
    Decompress { at: usize, reason: String },
    #[error("compressed message at byte {0} holds another compressed message")]
    Nested(usize),
    #[error("empty message set")]
    Empty,
}

/// The magic byte of the first message or batch in `records` (at byte 16 in both layouts).
pub fn magic_of(records: &[u8]) -> Option<i8> {
    records.get(16).map(|b| *b as i8)
}

fn bytes_field(buf: &mut Bytes, at: usize) -> Result<Option<Bytes>, MessageSetError> {
    if buf.remaining() < 4 {
        return Err(MessageSetError::Truncated(at));
    }
    let len = buf.get_i32();
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if buf.remaining() < len {
        return Err(MessageSetError::Truncated(at));
    }
    Ok(Some(buf.split_to(len)))
}

/// Decodes a whole message set (a trailing partial message is an error: producers send whole
/// ones). Inner messages of a compressed wrapper get offsets as written (magic 1: relative).
pub fn decode(records: &Bytes) -> Result<(Vec<LegacyRecord>, SetInfo), MessageSetError> {
    let mut out = Vec::new();
    let info = decode_into(records, &mut out, false)?;
    Ok((out, info))
}

fn decode_into(
    records: &Bytes,
    out: &mut Vec<LegacyRecord>,
    inner: bool,
) -> Result<SetInfo, MessageSetError> {
    let mut pos = 0usize;
    let mut info = None;
    while pos < records.len() {
        let left = records.len() - pos;
        if left < 12 {
            return Err(MessageSetError::Truncated(pos));
        }
        let mut head = records.slice(pos..pos + 12);
        let offset = head.get_i64();
        let size = head.get_i32();
        if size < 14 || size as usize > left - 12 {
            return Err(MessageSetError::BadSize {
                at: pos,
                size,
                left: left - 12,
            });
        }
        let mut msg = records.slice(pos + 12..pos + 12 + size as usize);
        let stored = msg.get_u32();
        let computed = crc32fast::hash(&msg);
        if stored != computed {
            return Err(MessageSetError::Crc {
                at: pos,
                stored,
                computed,
            });
        }
        let magic = msg.get_i8();
        if !(0..=1).contains(&magic) {
            return Err(MessageSetError::Magic { at: pos, magic });
        }
        let attributes = msg.get_i8() as u8;
        let codec = attributes & 0x07;
        let log_append_time = magic == 1 && attributes & 0x08 != 0;
        let timestamp = if magic == 1 {
            if msg.remaining() < 8 {
                return Err(MessageSetError::Truncated(pos));
            }
            msg.get_i64()
        } else {
            -1
        };
        let key = bytes_field(&mut msg, pos)?;
        let value = bytes_field(&mut msg, pos)?;
        info.get_or_insert(SetInfo { magic, codec });
        if codec == 0 {
            out.push(LegacyRecord {
                offset,
                timestamp,
                log_append_time,
                key,
                value,
            });
        } else {
            if inner {
                return Err(MessageSetError::Nested(pos));
            }
            let mut compressed = value.unwrap_or_default();
            let fail = |e: anyhow::Error| MessageSetError::Decompress {
                at: pos,
                reason: e.to_string(),
            };
            let take = |b: &mut Bytes| Ok(std::mem::take(b));
            let plain: Bytes = match codec {
                1 => Gzip::decompress(&mut compressed, take).map_err(fail)?,
                2 => Snappy::decompress(&mut compressed, take).map_err(fail)?,
                3 => Lz4::decompress(&mut compressed, take).map_err(fail)?,
                _ => return Err(MessageSetError::Codec { at: pos, codec }),
            };
            let first = out.len();
            decode_into(&plain, out, true)?;
            // A LogAppendTime wrapper stamps its inner messages with its own timestamp.
            if log_append_time {
                for r in &mut out[first..] {
                    r.timestamp = timestamp;
                    r.log_append_time = true;
                }
            }
        }
        pos += 12 + size as usize;
    }
    info.ok_or(MessageSetError::Empty)
}

/// Encodes records as an uncompressed message set at `magic` (0 drops timestamps).
pub fn encode(records: &[LegacyRecord], magic: i8) -> Bytes {
    let mut out = BytesMut::new();
    for r in records {
        let mut body = BytesMut::new();
        body.put_i8(magic);
        body.put_i8(if magic == 1 && r.log_append_time {
            0x08
        } else {
            0
        });
        if magic == 1 {
            body.put_i64(r.timestamp);
        }
        for field in [&r.key, &r.value] {
            match field {
                Some(b) => {
                    body.put_i32(b.len() as i32);
                    body.put_slice(b);
                }
                None => body.put_i32(-1),
            }
        }
        out.put_i64(r.offset);
        out.put_i32(body.len() as i32 + 4);
        out.put_u32(crc32fast::hash(&body));
        out.put_slice(&body);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(offset: i64, ts: i64, key: Option<&str>, value: Option<&str>) -> LegacyRecord {
        LegacyRecord {
            offset,
            timestamp: ts,
            log_append_time: false,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        }
    }

    #[test]
    fn given_records_when_encoded_and_decoded_should_round_trip_at_both_magics() {
        let records = vec![rec(0, 1000, Some("k"), Some("v")), rec(1, 1001, None, None)];
        let (back, info) = decode(&encode(&records, 1)).unwrap();
        assert_eq!(back, records);
        assert_eq!(info, SetInfo { magic: 1, codec: 0 });
        let (back, info) = decode(&encode(&records, 0)).unwrap();
        assert_eq!(info.magic, 0);
        assert_eq!(back[0].timestamp, -1);
        assert_eq!(back[1].value, None);
    }

    #[test]
    fn given_a_gzip_wrapper_when_decoded_should_yield_its_inner_messages() {
        use kafka_protocol::compression::Compressor;
        let inner = encode(
            &[
                rec(0, 5, Some("a"), Some("1")),
                rec(1, 6, Some("b"), Some("2")),
            ],
            1,
        );
        let mut compressed = BytesMut::new();
        Gzip::compress(&mut compressed, |b: &mut BytesMut| {
            b.put_slice(&inner);
            Ok(())
        })
        .unwrap();
        let mut wrapper = encode(&[rec(1, 6, None, None)], 1).to_vec();
        // Rebuild the wrapper with the gzip attribute and the compressed value.
        let mut body = BytesMut::new();
        body.put_i8(1);
        body.put_i8(1);
        body.put_i64(6);
        body.put_i32(-1);
        body.put_i32(compressed.len() as i32);
        body.put_slice(&compressed);
        wrapper.clear();
        wrapper.extend_from_slice(&1i64.to_be_bytes());
        wrapper.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        wrapper.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        wrapper.extend_from_slice(&body);
        let (back, info) = decode(&Bytes::from(wrapper)).unwrap();
        assert_eq!(info.codec, 1);
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].key.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn given_a_corrupted_message_when_decoded_should_refuse_it() {
        let mut bytes = encode(&[rec(0, 1, Some("k"), Some("v"))], 1).to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert!(matches!(
            decode(&Bytes::from(bytes)),
            Err(MessageSetError::Crc { .. })
        ));
        assert_eq!(decode(&Bytes::new()), Err(MessageSetError::Empty));
    }

    proptest! {
        #[test]
        fn given_any_bytes_when_decoded_should_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&Bytes::from(data));
        }
    }
}
