//! The Fetch response encoder, ours rather than the crate's, so records can go out as file ranges
//! (`sendfile`) instead of being copied into the response. Everything else in a Fetch response is
//! small; it is encoded here field by field for versions 0–16 (0–3 without the last stable
//! offset and aborted transactions, their records down-converted by the handler) and checked
//! against the `kafka-protocol` decoder in the tests below.

use bytes::{BufMut, Bytes, BytesMut};
use oxbow_storage::FileSlice;

pub use oxbow_net::Chunk;

/// A partition's records: in memory or in a segment file.
#[derive(Debug, Clone)]
pub enum Records {
    Bytes(Bytes),
    File(FileSlice),
}

impl Records {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            Records::Bytes(b) => b.len(),
            Records::File(f) => f.len,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PartitionOut {
    pub index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// None: null (read_uncommitted); Some: (producer id, first offset) pairs.
    pub aborted: Option<Vec<(i64, i64)>>,
    pub records: Records,
}

#[derive(Debug, Clone)]
pub struct TopicOut {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: Vec<PartitionOut>,
}

#[derive(Debug, Clone, Default)]
pub struct FetchOut {
    pub error_code: i16,
    pub session_id: i32,
    pub topics: Vec<TopicOut>,
}

/// Encodes the whole response frame (size prefix, header, body) as chunks.
pub fn encode(version: i16, correlation_id: i32, out: &FetchOut) -> Vec<Chunk> {
    let flexible = version >= 12;
    let mut enc = Encoder {
        chunks: Vec::new(),
        buf: BytesMut::with_capacity(256),
        flexible,
    };
    enc.buf.put_i32(0); // size, patched below
    enc.buf.put_i32(correlation_id);
    enc.tags();
    if version >= 1 {
        enc.buf.put_i32(0); // throttle_time_ms
    }
    if version >= 7 {
        enc.buf.put_i16(out.error_code);
        enc.buf.put_i32(out.session_id);
    }
    enc.array_len(out.topics.len());
    for t in &out.topics {
        if version >= 13 {
            enc.buf.put_slice(t.id.as_bytes());
        } else {
            enc.string(&t.name);
        }
        enc.array_len(t.partitions.len());
        for p in &t.partitions {
            enc.buf.put_i32(p.index);
            enc.buf.put_i16(p.error_code);
            enc.buf.put_i64(p.high_watermark);
            if version >= 4 {
                enc.buf.put_i64(p.last_stable_offset);
            }
            if version >= 5 {
                enc.buf.put_i64(p.log_start_offset);
            }
            match &p.aborted {
                _ if version < 4 => {}
                None if flexible => enc.uvarint(0),
                None => enc.buf.put_i32(-1),
                Some(list) => {
                    enc.array_len(list.len());
                    for (producer_id, first_offset) in list {
                        enc.buf.put_i64(*producer_id);
                        enc.buf.put_i64(*first_offset);
                        enc.tags();
                    }
                }
            }
            if version >= 11 {
                enc.buf.put_i32(-1); // preferred_read_replica
            }
            let n = p.records.len();
            if flexible {
                enc.uvarint(n as u64 + 1);
            } else {
                enc.buf.put_i32(n as i32);
            }
            match &p.records {
                Records::Bytes(b) => enc.buf.put_slice(b),
                Records::File(f) if f.len > 0 => enc.file(f.clone()),
                Records::File(_) => {}
            }
            enc.tags();
        }
        enc.tags();
    }
    enc.tags();
    enc.finish()
}

struct Encoder {
    chunks: Vec<Chunk>,
    buf: BytesMut,
    flexible: bool,
}

impl Encoder {
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    fn tags(&mut self) {
        if self.flexible {
            self.buf.put_u8(0);
        }
    }

    fn array_len(&mut self, n: usize) {
        if self.flexible {
            self.uvarint(n as u64 + 1);
        } else {
            self.buf.put_i32(n as i32);
        }
    }

    fn string(&mut self, s: &str) {
        if self.flexible {
            self.uvarint(s.len() as u64 + 1);
        } else {
            self.buf.put_i16(s.len() as i16);
        }
        self.buf.put_slice(s.as_bytes());
    }

    fn file(&mut self, f: FileSlice) {
        let head = self.buf.split().freeze();
        self.chunks.push(Chunk::Bytes(head));
        self.chunks.push(Chunk::File(f));
    }

    fn finish(mut self) -> Vec<Chunk> {
        let tail = self.buf.split().freeze();
        if !tail.is_empty() {
            self.chunks.push(Chunk::Bytes(tail));
        }
        let total: usize = self.chunks.iter().map(Chunk::len).sum();
        let size = (total - 4) as i32;
        // The first chunk always holds the size prefix.
        if let Some(Chunk::Bytes(first)) = self.chunks.first_mut() {
            let mut patched = BytesMut::from(&first[..]);
            patched[0..4].copy_from_slice(&size.to_be_bytes());
            *first = patched.freeze();
        }
        self.chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::{FetchResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;

    fn sample() -> FetchOut {
        FetchOut {
            error_code: 0,
            session_id: 7,
            topics: vec![
                TopicOut {
                    name: "orders".into(),
                    id: uuid::Uuid::from_u128(42),
                    partitions: vec![
                        PartitionOut {
                            index: 0,
                            error_code: 0,
                            high_watermark: 10,
                            last_stable_offset: 10,
                            log_start_offset: 2,
                            aborted: None,
                            records: Records::Bytes(Bytes::from_static(b"abcdef")),
                        },
                        PartitionOut {
                            index: 3,
                            error_code: 1,
                            high_watermark: 5,
                            last_stable_offset: 5,
                            log_start_offset: 0,
                            aborted: Some(vec![(9, 100)]),
                            records: Records::Bytes(Bytes::new()),
                        },
                    ],
                },
                TopicOut {
                    name: "x".into(),
                    id: uuid::Uuid::from_u128(1),
                    partitions: vec![],
                },
            ],
        }
    }

    #[test]
    fn given_every_version_when_encoding_should_decode_with_the_reference_decoder() {
        for version in 4..=16i16 {
            let out = sample();
            let chunks = encode(version, 99, &out);
            let mut whole = BytesMut::new();
            for c in &chunks {
                match c {
                    Chunk::Bytes(b) => whole.extend_from_slice(b),
                    Chunk::File(_) => unreachable!("no files in this sample"),
                }
            }
            let mut buf = whole.freeze();
            let size = buf.get_i32() as usize;
            assert_eq!(size, buf.remaining(), "v{version} size prefix");
            let header_version = if version >= 12 { 1 } else { 0 };
            let header = ResponseHeader::decode(&mut buf, header_version).unwrap();
            assert_eq!(header.correlation_id, 99);
            let resp = FetchResponse::decode(&mut buf, version).unwrap();
            assert_eq!(buf.remaining(), 0, "v{version} trailing bytes");
            if version >= 7 {
                assert_eq!(resp.session_id, 7);
            }
            assert_eq!(resp.responses.len(), 2);
            let t = &resp.responses[0];
            if version >= 13 {
                assert_eq!(t.topic_id, uuid::Uuid::from_u128(42));
            } else {
                assert_eq!(t.topic.0.as_str(), "orders");
            }
            let p0 = &t.partitions[0];
            assert_eq!(
                (p0.partition_index, p0.high_watermark, p0.last_stable_offset),
                (0, 10, 10)
            );
            assert_eq!(p0.records.as_deref(), Some(&b"abcdef"[..]));
            assert!(p0.aborted_transactions.is_none());
            if version >= 5 {
                assert_eq!(p0.log_start_offset, 2);
            }
            let p1 = &t.partitions[1];
            assert_eq!((p1.partition_index, p1.error_code), (3, 1));
            let aborted = p1.aborted_transactions.as_ref().unwrap();
            assert_eq!(
                (aborted[0].producer_id.0, aborted[0].first_offset),
                (9, 100)
            );
            if version >= 11 {
                assert_eq!(p1.preferred_read_replica.0, -1);
            }
        }
    }
}
