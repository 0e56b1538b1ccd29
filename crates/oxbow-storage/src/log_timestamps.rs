//! Timestamp lookups (ListOffsets by timestamp, MAX_TIMESTAMP, time lag): the time index narrows
//! the search, then batches are decoded (possibly decompressed) to find the exact record.

use std::fs::File;
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::api::OffsetAndTimestamp;
use crate::batch::{BatchHeader, RECORD_BATCH_OVERHEAD};
use crate::error::{Result, StorageError};
use crate::log_segment::ChunkedReader;
use crate::unified_log::{SegmentSlice, UnifiedLog};

/// A batch's header with the (offset, timestamp) of each of its records.
type DecodedBatch = (BatchHeader, Vec<(i64, i64)>);

/// (offset, timestamp) of every record of a batch, honouring LogAppendTime.
fn decode_records(bytes: Vec<u8>, header: &BatchHeader) -> Result<Vec<(i64, i64)>> {
    let mut buf = Bytes::from(bytes);
    let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| {
        StorageError::CorruptRecord(format!(
            "cannot decode batch at offset {}: {e}",
            header.base_offset
        ))
    })?;
    Ok(set
        .records
        .iter()
        .map(|r| {
            (
                r.offset,
                if header.is_log_append_time() {
                    header.max_timestamp
                } else {
                    r.timestamp
                },
            )
        })
        .collect())
}

fn read_batch(file: &File, pos: u64, header: &BatchHeader) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; header.size()];
    file.read_exact_at(&mut buf, pos)?;
    Ok(buf)
}

impl UnifiedLog {
    /// The first record (at or after the log start) whose timestamp is >= `ts`, or None.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<OffsetAndTimestamp>> {
        self.check_usable()?;
        let (candidates, log_start) = {
            let inner = self.inner.lock();
            let mut out = Vec::new();
            for seg in inner.segments.values() {
                if seg.max_timestamp() < ts || seg.next_offset() <= inner.log_start {
                    continue;
                }
                let from = seg.lookup_timestamp(ts).max(inner.log_start);
                let file = match seg.file() {
                    Some(f) => f.clone(),
                    None => self
                        .ctx
                        .file_cache
                        .get_or_open(seg.log_path())
                        .map_err(|e| {
                            self.ctx.failure.io_error(seg.log_path(), "open segment", e)
                        })?,
                };
                out.push(SegmentSlice {
                    file,
                    path: seg.log_path().to_path_buf(),
                    start: seg.lookup_position(from),
                    end: seg.size(),
                });
            }
            (out, inner.log_start)
        };
        for slice in candidates {
            let found = self.scan_for_timestamp(&slice, ts, log_start)?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn scan_for_timestamp(
        &self,
        slice: &SegmentSlice,
        ts: i64,
        log_start: i64,
    ) -> Result<Option<OffsetAndTimestamp>> {
        let io = |e| {
            self.ctx
                .failure
                .io_error(&slice.path, "read for timestamp", e)
        };
        let mut reader = ChunkedReader::new(&slice.file, slice.end);
        let mut pos = slice.start;
        while pos < slice.end {
            let Some(h) = reader
                .read(pos, RECORD_BATCH_OVERHEAD)
                .map_err(io)?
                .and_then(BatchHeader::parse)
            else {
                break;
            };
            if h.max_timestamp >= ts && h.last_offset() >= log_start && !h.is_control() {
                let bytes = read_batch(&slice.file, pos, &h).map_err(io)?;
                let hit = decode_records(bytes, &h)?
                    .into_iter()
                    .find(|&(o, t)| o >= log_start && t >= ts);
                if let Some((offset, timestamp)) = hit {
                    return Ok(Some(OffsetAndTimestamp { offset, timestamp }));
                }
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the first one if several); None if the log is empty.
    pub fn max_timestamp(&self) -> Result<Option<OffsetAndTimestamp>> {
        self.check_usable()?;
        let (slice, max_ts, batch_offset) = {
            let inner = self.inner.lock();
            let mut best: Option<(i64, i64)> = None;
            for seg in inner.segments.values() {
                if seg.is_empty() || seg.next_offset() <= inner.log_start {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((ts, _)) => seg.max_timestamp() > ts,
                };
                if better {
                    best = Some((seg.max_timestamp(), seg.offset_of_max_timestamp()));
                }
            }
            let Some((max_ts, offset)) = best else {
                return Ok(None);
            };
            (self.locate(&inner, offset)?, max_ts, offset)
        };
        let Some(slice) = slice else { return Ok(None) };
        let Some((h, records)) = self.batch_records(&slice, batch_offset)? else {
            return Ok(None);
        };
        let pick = records
            .iter()
            .find(|&&(_, t)| t == max_ts)
            .or_else(|| records.iter().max_by_key(|&&(_, t)| t))
            .copied()
            .unwrap_or((h.base_offset, h.max_timestamp));
        Ok(Some(OffsetAndTimestamp {
            offset: pick.0,
            timestamp: pick.1,
        }))
    }

    /// The timestamp of the record at `offset`, or None if the log does not hold it.
    pub fn timestamp_at(&self, offset: i64) -> Result<Option<i64>> {
        self.check_usable()?;
        let slice = {
            let inner = self.inner.lock();
            if offset < inner.log_start || offset >= inner.next_offset {
                return Ok(None);
            }
            self.locate(&inner, offset)?
        };
        let Some(slice) = slice else { return Ok(None) };
        let Some((_, records)) = self.batch_records(&slice, offset)? else {
            return Ok(None);
        };
        Ok(records
            .into_iter()
            .find(|&(o, _)| o == offset)
            .map(|(_, t)| t))
    }

    /// Decodes the batch containing `offset` within the slice.
    fn batch_records(&self, slice: &SegmentSlice, offset: i64) -> Result<Option<DecodedBatch>> {
        let io = |e| {
            self.ctx
                .failure
                .io_error(&slice.path, "read for timestamp", e)
        };
        let Some((pos, _)) =
            crate::log_segment::find_batch(&slice.file, slice.start, slice.end, offset)
                .map_err(io)?
        else {
            return Ok(None);
        };
        let mut head = [0u8; RECORD_BATCH_OVERHEAD];
        slice.file.read_exact_at(&mut head, pos).map_err(io)?;
        let Some(h) = BatchHeader::parse(&head) else {
            return Ok(None);
        };
        let bytes = read_batch(&slice.file, pos, &h).map_err(io)?;
        Ok(Some((h, decode_records(bytes, &h)?)))
    }
}
