//! Kafka record batch (magic v2) header parsing, validation and CRC handling.
//!
//! Batches are stored exactly as the producer sent them; the broker only rewrites the
//! fields that are not covered by the CRC (baseOffset, partitionLeaderEpoch), and, for
//! `LogAppendTime` logs, the timestamp type bit and maxTimestamp (then recomputes the CRC).

use crate::error::{Result, StorageError};

/// Bytes before the batchLength-counted part: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD: usize = 12;
/// Size of the full v2 batch header.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// The smallest legal batchLength (header minus LOG_OVERHEAD).
pub const MIN_BATCH_LENGTH: i32 = (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32;
/// Bytes of the header needed to know a batch's offsets and size.
pub const OFFSET_HEADER_LEN: usize = 27;

const BASE_OFFSET_OFFSET: usize = 0;
const LENGTH_OFFSET: usize = 8;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;

/// Attribute bit: timestamps are LogAppendTime.
pub const TIMESTAMP_TYPE_MASK: i16 = 1 << 3;
/// Attribute bit: part of a transaction.
pub const TRANSACTIONAL_MASK: i16 = 1 << 4;
/// Attribute bit: control batch (transaction markers).
pub const CONTROL_MASK: i16 = 1 << 5;

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// The minimal part of a header: offsets and size. Parsed from [`OFFSET_HEADER_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOffsets {
    pub base_offset: i64,
    pub batch_length: i32,
    pub magic: i8,
    pub last_offset_delta: i32,
}

impl BatchOffsets {
    /// Parses the first [`OFFSET_HEADER_LEN`] bytes; `None` if too short.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < OFFSET_HEADER_LEN {
            return None;
        }
        Some(Self {
            base_offset: be_i64(b, BASE_OFFSET_OFFSET),
            batch_length: be_i32(b, LENGTH_OFFSET),
            magic: b[MAGIC_OFFSET] as i8,
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA_OFFSET),
        })
    }
    /// Total bytes the batch occupies on disk.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
}

/// A parsed v2 batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the first [`RECORD_BATCH_OVERHEAD`] bytes; `None` if too short.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < RECORD_BATCH_OVERHEAD {
            return None;
        }
        Some(Self {
            base_offset: be_i64(b, BASE_OFFSET_OFFSET),
            batch_length: be_i32(b, LENGTH_OFFSET),
            partition_leader_epoch: be_i32(b, PARTITION_LEADER_EPOCH_OFFSET),
            magic: b[MAGIC_OFFSET] as i8,
            crc: be_i32(b, CRC_OFFSET) as u32,
            attributes: be_i16(b, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: be_i64(b, BASE_TIMESTAMP_OFFSET),
            max_timestamp: be_i64(b, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(b, PRODUCER_ID_OFFSET),
            producer_epoch: be_i16(b, PRODUCER_EPOCH_OFFSET),
            base_sequence: be_i32(b, BASE_SEQUENCE_OFFSET),
            record_count: be_i32(b, RECORDS_COUNT_OFFSET),
        })
    }
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_MASK != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_MASK != 0
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_MASK != 0
    }
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
    /// Sequence of the batch's last record (wrapping past i32::MAX to 0, as Kafka does).
    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// `seq + delta`, wrapping from i32::MAX to 0 (Kafka's DefaultRecordBatch.incrementSequence).
pub fn increment_sequence(seq: i32, delta: i32) -> i32 {
    if seq > i32::MAX - delta {
        delta - (i32::MAX - seq) - 1
    } else {
        seq + delta
    }
}

/// CRC-32C of a batch's CRC-covered part (attributes to the end of the batch as framed by its
/// batchLength, or of the slice if that is shorter).
pub fn compute_crc(batch: &[u8]) -> u32 {
    let framed = LOG_OVERHEAD + be_i32(batch, LENGTH_OFFSET).max(0) as usize;
    let end = framed.min(batch.len()).max(ATTRIBUTES_OFFSET);
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..end])
}

/// Checks that a whole batch's stored CRC matches its content.
pub fn crc_matches(batch: &[u8]) -> bool {
    batch.len() >= RECORD_BATCH_OVERHEAD && be_i32(batch, CRC_OFFSET) as u32 == compute_crc(batch)
}

/// Rewrites the fields not covered by the CRC: baseOffset and partitionLeaderEpoch (set to 0).
/// Bytes at the start of a batch that precede the CRC'd part and that the log rewrites:
/// baseOffset, batchLength, partitionLeaderEpoch.
pub const PREFIX_LEN: usize = 16;

pub fn assign_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&0i32.to_be_bytes());
}

/// Stamps LogAppendTime on a batch: sets attribute bit 3, maxTimestamp = `now_ms`, recomputes the CRC.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attrs = be_i16(batch, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_MASK;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A transaction marker: the one record of a control batch, ending a producer's transaction in
/// a partition (key: version 0, type 0 = abort / 1 = commit; value: version 0, coordinator epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// Bytes of a control batch past its header that hold the marker's key.
pub const CONTROL_KEY_PROBE_LEN: usize = 16;

impl TxnMarker {
    /// The control batch carrying this marker (base offset 0, to be assigned by the log).
    pub fn encode(&self, timestamp: i64) -> Vec<u8> {
        let mut b = Vec::with_capacity(RECORD_BATCH_OVERHEAD + 17);
        b.extend_from_slice(&0i64.to_be_bytes()); // base offset
        b.extend_from_slice(&0i32.to_be_bytes()); // batch length, below
        b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
        b.push(2); // magic
        b.extend_from_slice(&0u32.to_be_bytes()); // crc, below
        b.extend_from_slice(&(TRANSACTIONAL_MASK | CONTROL_MASK).to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
        b.extend_from_slice(&timestamp.to_be_bytes());
        b.extend_from_slice(&timestamp.to_be_bytes());
        b.extend_from_slice(&self.producer_id.to_be_bytes());
        b.extend_from_slice(&self.producer_epoch.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        b.extend_from_slice(&1i32.to_be_bytes()); // record count
                                                  // The record: length 16 (zigzag 32), attributes, timestamp delta 0, offset delta 0,
                                                  // key length 4 (zigzag 8), key, value length 6 (zigzag 12), value, no headers.
        b.extend_from_slice(&[32, 0, 0, 0, 8]);
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&i16::from(self.commit).to_be_bytes());
        b.push(12);
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&self.coordinator_epoch.to_be_bytes());
        b.push(0);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&len.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decodes the marker of a control batch from its header and the bytes that follow it (at
    /// least [`CONTROL_KEY_PROBE_LEN`] of them, or the whole batch). None for a control batch
    /// of an unknown type (Kafka ignores those) or bytes that are not a marker.
    pub fn decode(h: &BatchHeader, batch: &[u8]) -> Option<Self> {
        if !h.is_control() {
            return None;
        }
        let mut rest = batch.get(RECORD_BATCH_OVERHEAD..)?;
        let _len = read_varint(&mut rest)?;
        let (_attrs, tail) = rest.split_first()?;
        rest = tail;
        let _ts = read_varint(&mut rest)?;
        let _od = read_varint(&mut rest)?;
        if read_varint(&mut rest)? < 4 {
            return None;
        }
        let key = rest.get(..4)?;
        let kind = i16::from_be_bytes([key[2], key[3]]);
        let commit = match kind {
            0 => false,
            1 => true,
            _ => return None,
        };
        // The coordinator epoch is informational; a short probe leaves it unknown.
        let coordinator_epoch = rest
            .get(5..11)
            .map(|v| i32::from_be_bytes([v[2], v[3], v[4], v[5]]))
            .unwrap_or(-1);
        Some(Self {
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            commit,
            coordinator_epoch,
        })
    }
}

/// A zigzag varint (records' lengths and deltas); None when cut short or too long.
fn read_varint(b: &mut &[u8]) -> Option<i64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// What the batches of a produce request say about transactions, from their headers alone
/// (framing is checked later, by the append).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionalBatches {
    /// No batch is transactional.
    None,
    /// Every transactional batch is this producer's, at this epoch.
    Producer { producer_id: i64, epoch: i16 },
    /// Transactional batches of several producers or epochs in one request.
    Mixed,
}

/// The complete v2 batches of `records` in order, each as (position, header); stops at the first
/// one that does not frame (too short, a length below the minimum, or running past the end).
/// Nothing is checked beyond the framing: the log's own validation does that.
pub fn framed(records: &[u8]) -> impl Iterator<Item = (usize, BatchHeader)> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let h = records.get(pos..).and_then(BatchHeader::parse)?;
        if h.batch_length < MIN_BATCH_LENGTH || h.size() > records.len() - pos {
            return None;
        }
        let at = pos;
        pos += h.size();
        Some((at, h))
    })
}

/// Walks the batch headers of `records` (stopping at anything that does not frame).
pub fn transactional_batches(records: &[u8]) -> TransactionalBatches {
    let mut found = TransactionalBatches::None;
    let mut pos = 0usize;
    while let Some(h) = records.get(pos..).and_then(BatchHeader::parse) {
        if h.is_transactional() {
            let this = TransactionalBatches::Producer {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
            };
            match found {
                TransactionalBatches::None => found = this,
                f if f == this => {}
                _ => return TransactionalBatches::Mixed,
            }
        }
        if h.batch_length < MIN_BATCH_LENGTH {
            break;
        }
        pos += h.size();
    }
    found
}

/// Checks the framing of a batch header against what is known about it, without the CRC.
/// Returns a description of the problem, used both for produce validation and recovery.
pub fn check_header(h: &BatchHeader) -> Option<String> {
    if h.batch_length < MIN_BATCH_LENGTH {
        return Some(format!(
            "batchLength {} is smaller than the minimum {}",
            h.batch_length, MIN_BATCH_LENGTH
        ));
    }
    if h.magic != 2 {
        return Some(format!("unsupported magic {}", h.magic));
    }
    if h.record_count <= 0
        || h.last_offset_delta < 0
        || h.record_count as i64 != h.last_offset_delta as i64 + 1
    {
        return Some(format!(
            "recordCount {} inconsistent with lastOffsetDelta {}",
            h.record_count, h.last_offset_delta
        ));
    }
    None
}

/// A batch of a produce request that passed validation: where it is in the request and its header.
#[derive(Debug, Clone, Copy)]
pub struct ValidBatch {
    pub position: usize,
    pub header: BatchHeader,
}

/// Validates every batch of a produce request's records (several batches may follow each other).
pub fn validate_records(records: &[u8], max_message_bytes: u32) -> Result<Vec<ValidBatch>> {
    if records.is_empty() {
        return Err(StorageError::InvalidRecord(
            "no record batches in request".into(),
        ));
    }
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < records.len() {
        let rest = &records[pos..];
        if rest.len() < LOG_OVERHEAD {
            return Err(StorageError::CorruptRecord(format!(
                "{} trailing bytes at position {pos} are too few for a batch",
                rest.len()
            )));
        }
        let batch_length = be_i32(rest, LENGTH_OFFSET);
        if batch_length < MIN_BATCH_LENGTH {
            return Err(StorageError::CorruptRecord(format!(
                "batchLength {batch_length} at position {pos} is smaller than the minimum {MIN_BATCH_LENGTH}"
            )));
        }
        let size = LOG_OVERHEAD + batch_length as usize;
        if size > rest.len() {
            return Err(StorageError::CorruptRecord(format!(
                "batch at position {pos} claims {size} bytes but only {} remain",
                rest.len()
            )));
        }
        let batch = &rest[..size];
        let header = BatchHeader::parse(batch).ok_or_else(|| {
            StorageError::CorruptRecord(format!("truncated batch header at position {pos}"))
        })?;
        if header.magic != 2 {
            return Err(StorageError::InvalidRecord(format!(
                "unsupported magic {} (only v2 is accepted)",
                header.magic
            )));
        }
        if size > max_message_bytes as usize {
            return Err(StorageError::MessageTooLarge {
                size,
                max: max_message_bytes,
            });
        }
        if let Some(problem) = check_header(&header) {
            return Err(StorageError::InvalidRecord(problem));
        }
        if !crc_matches(batch) {
            return Err(StorageError::CorruptRecord(format!(
                "CRC mismatch in batch at position {pos}: stored {:#010x}, computed {:#010x}",
                header.crc,
                compute_crc(batch)
            )));
        }
        out.push(ValidBatch {
            position: pos,
            header,
        });
        pos += size;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_sequence_near_max_when_incremented_should_wrap_to_zero() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(5, 4), 9);
    }

    #[test]
    fn given_marker_when_encoded_should_validate_and_decode_back() {
        for commit in [true, false] {
            let m = TxnMarker {
                producer_id: 42,
                producer_epoch: 3,
                commit,
                coordinator_epoch: 7,
            };
            let bytes = m.encode(1_000);
            let batches = validate_records(&bytes, 1 << 20).unwrap();
            assert_eq!(batches.len(), 1);
            let h = batches[0].header;
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(TxnMarker::decode(&h, &bytes), Some(m));
            let probe = &bytes[..RECORD_BATCH_OVERHEAD + CONTROL_KEY_PROBE_LEN];
            assert_eq!(TxnMarker::decode(&h, probe), Some(m));
        }
    }

    #[test]
    fn given_empty_records_when_validated_should_be_invalid() {
        assert!(matches!(
            validate_records(&[], 100),
            Err(StorageError::InvalidRecord(_))
        ));
    }

    #[test]
    fn given_short_tail_when_validated_should_be_corrupt() {
        assert!(matches!(
            validate_records(&[0u8; 5], 100),
            Err(StorageError::CorruptRecord(_))
        ));
    }
}
