//! Idempotent producer state (Kafka's ProducerStateManager): per producer id, the current epoch
//! and the metadata of its last five batches, used to fence old epochs, reject out-of-order
//! sequences and recognise retried (duplicate) batches.
//!
//! State is snapshotted to `{offset:020}.snapshot` (the state after every offset below `offset`)
//! on segment roll and clean close; on load the newest snapshot at or below the log end is read
//! and the rest is rebuilt by replaying batch headers.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::batch::{increment_sequence, BatchHeader, TxnMarker};
use crate::error::{Result, StorageError};
use crate::transaction_index::AbortedTxn;

pub const SNAPSHOT_SUFFIX: &str = "snapshot";
/// How many batches per producer are remembered for duplicate detection (Kafka's 5 in flight).
pub const NUM_BATCHES_TO_RETAIN: usize = 5;
const SNAPSHOTS_TO_KEEP: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProducerStateEntry {
    pub producer_id: i64,
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
    /// Wall-clock time of the last write (or of loading), for `producer.id.expiration.ms`.
    /// Not persisted: after a restart the clock starts again, so a producer is never expired
    /// early by a broker outage.
    #[serde(skip, default = "crate::clock::wall_clock_ms")]
    pub last_seen_ms: i64,
    /// First offset of the producer's open transaction (the log's last stable offset cannot pass
    /// it until a marker ends the transaction).
    #[serde(default)]
    pub current_txn_first_offset: Option<i64>,
    /// Coordinator epoch of the last marker written for this producer.
    #[serde(default)]
    pub coordinator_epoch: i32,
    /// Timestamp of the last batch written (DescribeProducers).
    #[serde(default)]
    pub last_timestamp: i64,
}

/// Equal when the state that matters for sequencing is equal (the idle clock is not compared).
impl PartialEq for ProducerStateEntry {
    fn eq(&self, other: &Self) -> bool {
        self.producer_id == other.producer_id
            && self.epoch == other.epoch
            && self.batches == other.batches
            && self.current_txn_first_offset == other.current_txn_first_offset
    }
}

impl Eq for ProducerStateEntry {}

impl ProducerStateEntry {
    fn new(producer_id: i64, epoch: i16) -> Self {
        Self {
            producer_id,
            epoch,
            batches: VecDeque::new(),
            last_seen_ms: crate::clock::wall_clock_ms(),
            current_txn_first_offset: None,
            coordinator_epoch: -1,
            last_timestamp: -1,
        }
    }

    /// Sequence of the last batch written, -1 if none is remembered.
    pub fn last_sequence(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }

    /// Applies a batch (already validated, or replayed from the log).
    fn update(&mut self, h: &BatchHeader) {
        self.last_seen_ms = crate::clock::wall_clock_ms();
        if h.producer_epoch != self.epoch {
            self.epoch = h.producer_epoch;
            self.batches.clear();
        }
        self.last_timestamp = h.max_timestamp;
        if h.is_transactional() && !h.is_control() && self.current_txn_first_offset.is_none() {
            self.current_txn_first_offset = Some(h.base_offset);
        }
        if h.base_sequence >= 0 {
            if self.batches.len() == NUM_BATCHES_TO_RETAIN {
                self.batches.pop_front();
            }
            self.batches.push_back(BatchMetadata {
                first_seq: h.base_sequence,
                last_seq: h.last_sequence(),
                first_offset: h.base_offset,
                last_offset: h.last_offset(),
                timestamp: h.max_timestamp,
            });
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    offset: i64,
    producers: Vec<ProducerStateEntry>,
}

/// Changes staged by one append before they are committed (the append may still fail).
pub type StagedProducers = HashMap<i64, ProducerStateEntry>;

#[derive(Debug, Default)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerStateEntry>,
}

impl ProducerStateManager {
    pub fn new() -> Self {
        Self::default()
    }

    #[cfg(test)]
    pub fn producer(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// Checks a batch (whose offsets are not yet assigned) against the state including earlier
    /// batches of the same append. Ok(Some(meta)) means it duplicates an already stored batch.
    pub fn check(
        &self,
        staged: &StagedProducers,
        h: &BatchHeader,
    ) -> Result<Option<BatchMetadata>> {
        let pid = h.producer_id;
        let current = staged.get(&pid).or_else(|| self.producers.get(&pid));
        let Some(entry) = current else {
            if h.base_sequence > 0 {
                return Err(StorageError::OutOfOrderSequence {
                    producer_id: pid,
                    expected: 0,
                    found: h.base_sequence,
                });
            }
            return Ok(None);
        };
        if h.producer_epoch < entry.epoch {
            return Err(StorageError::InvalidProducerEpoch {
                producer_id: pid,
                epoch: h.producer_epoch,
                current: entry.epoch,
            });
        }
        if entry.current_txn_first_offset.is_some() && !h.is_transactional() {
            return Err(StorageError::InvalidTxnState(format!(
                "producer {pid} wrote a non-transactional batch while its transaction is open"
            )));
        }
        if h.base_sequence < 0 {
            return Ok(None);
        }
        if h.producer_epoch > entry.epoch {
            if h.base_sequence != 0 {
                return Err(StorageError::OutOfOrderSequence {
                    producer_id: pid,
                    expected: 0,
                    found: h.base_sequence,
                });
            }
            return Ok(None);
        }
        let last_seq = h.last_sequence();
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(Some(*dup));
        }
        let expected = match entry.batches.back() {
            Some(b) => increment_sequence(b.last_seq, 1),
            None => 0,
        };
        if h.base_sequence != expected {
            return Err(StorageError::OutOfOrderSequence {
                producer_id: pid,
                expected,
                found: h.base_sequence,
            });
        }
        Ok(None)
    }

    /// Stages a checked batch whose offsets have been assigned.
    pub fn stage(&self, staged: &mut StagedProducers, h: &BatchHeader) {
        let pid = h.producer_id;
        let entry = staged.entry(pid).or_insert_with(|| {
            self.producers
                .get(&pid)
                .cloned()
                .unwrap_or_else(|| ProducerStateEntry::new(pid, h.producer_epoch))
        });
        entry.update(h);
    }

    pub fn commit(&mut self, staged: StagedProducers) {
        self.producers.extend(staged);
    }

    /// Whether a marker may be written for its producer (its epoch is not older).
    pub fn check_marker(&self, marker: &TxnMarker) -> Result<()> {
        match self.producers.get(&marker.producer_id) {
            Some(e) if marker.producer_epoch < e.epoch => Err(StorageError::InvalidProducerEpoch {
                producer_id: marker.producer_id,
                epoch: marker.producer_epoch,
                current: e.epoch,
            }),
            _ => Ok(()),
        }
    }

    /// First offset of the producer's open transaction, if one is open.
    pub fn open_txn_first_offset(&self, producer_id: i64) -> Option<i64> {
        self.producers
            .get(&producer_id)
            .and_then(|e| e.current_txn_first_offset)
    }

    /// Ends the producer's open transaction with a marker (whose epoch the caller checked with
    /// [`Self::check_marker`] before writing it). Returns the first offset of the transaction it
    /// ended, if one was open.
    pub fn complete_txn(&mut self, marker: &TxnMarker) -> Option<i64> {
        let entry = self
            .producers
            .entry(marker.producer_id)
            .or_insert_with(|| ProducerStateEntry::new(marker.producer_id, marker.producer_epoch));
        Self::apply_marker(entry, marker)
    }

    fn apply_marker(entry: &mut ProducerStateEntry, marker: &TxnMarker) -> Option<i64> {
        if marker.producer_epoch != entry.epoch {
            entry.epoch = marker.producer_epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = marker.coordinator_epoch;
        entry.last_seen_ms = crate::clock::wall_clock_ms();
        entry.current_txn_first_offset.take()
    }

    /// The first offset of the oldest open transaction (the log's first unstable offset).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers
            .values()
            .filter_map(|e| e.current_txn_first_offset)
            .min()
    }

    /// Every producer's state (DescribeProducers).
    pub fn entries(&self) -> Vec<ProducerStateEntry> {
        let mut all: Vec<_> = self.producers.values().cloned().collect();
        all.sort_by_key(|e| e.producer_id);
        all
    }

    /// Producer id -> last offset of its last batch: the batches compaction must keep whole.
    pub fn last_batch_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(pid, e)| e.batches.back().map(|b| (*pid, b.last_offset)))
            .collect()
    }

    /// Forgets producers that have not written for `max_age_ms` (Kafka's
    /// `producer.id.expiration.ms`), so state does not grow with every short-lived producer.
    /// Returns how many were removed.
    pub fn remove_expired(&mut self, now_ms: i64, max_age_ms: i64) -> usize {
        let before = self.producers.len();
        // A producer with an open transaction stays: its transaction still holds the LSO.
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_seen_ms) < max_age_ms
        });
        before - self.producers.len()
    }

    /// Replays a batch read back from the log (no checks). For a control batch `marker` is its
    /// decoded marker; the return value is then the aborted transaction it ended, if any.
    pub fn replay(&mut self, h: &BatchHeader, marker: Option<&TxnMarker>) -> Option<AbortedTxn> {
        if !h.has_producer_id() {
            return None;
        }
        let pid = h.producer_id;
        let lso = self.first_unstable_offset();
        let entry = self
            .producers
            .entry(pid)
            .or_insert_with(|| ProducerStateEntry::new(pid, h.producer_epoch));
        if h.producer_epoch < entry.epoch {
            return None;
        }
        match marker {
            Some(m) if h.is_control() => {
                let first = Self::apply_marker(entry, m)?;
                (!m.commit).then_some(AbortedTxn {
                    producer_id: pid,
                    first_offset: first,
                    last_offset: h.base_offset,
                    last_stable_offset: lso.unwrap_or(first),
                })
            }
            _ if h.is_control() => None,
            _ => {
                entry.update(h);
                None
            }
        }
    }

    /// Writes `{offset}.snapshot` durably and removes all but the newest snapshots.
    pub fn take_snapshot(&self, dir: &Path, offset: i64) -> io::Result<()> {
        self.take_snapshot_with(dir, offset, true)
    }

    /// As [`Self::take_snapshot`]; `sync` = false leaves durability to a later `syncfs`.
    pub fn take_snapshot_with(&self, dir: &Path, offset: i64, sync: bool) -> io::Result<()> {
        let mut producers: Vec<_> = self.producers.values().cloned().collect();
        producers.sort_by_key(|p| p.producer_id);
        let snap = Snapshot {
            version: 1,
            offset,
            producers,
        };
        let bytes = serde_json::to_vec(&snap).map_err(io::Error::other)?;
        crate::checkpoint::write_replacing(&snapshot_file(dir, offset), &bytes, sync)?;
        let mut all = list_snapshots(dir)?;
        all.sort_unstable();
        let excess = all.len().saturating_sub(SNAPSHOTS_TO_KEEP);
        for (_, path) in all.into_iter().take(excess) {
            crate::log_segment::remove_if_exists(&path)?;
        }
        Ok(())
    }

    /// Loads the newest readable snapshot at or below `log_end`, deleting any above it.
    /// Returns the offset it covers (replay must start there), or None if there is none.
    pub fn load_snapshot(&mut self, dir: &Path, log_end: i64) -> io::Result<Option<i64>> {
        self.producers.clear();
        let mut all = list_snapshots(dir)?;
        all.sort_unstable();
        for (offset, path) in all.iter().rev() {
            if *offset > log_end {
                crate::log_segment::remove_if_exists(path)?;
                continue;
            }
            let parsed = fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok());
            match parsed {
                Some(snap) if snap.offset == *offset => {
                    self.producers = snap
                        .producers
                        .into_iter()
                        .map(|p| (p.producer_id, p))
                        .collect();
                    return Ok(Some(*offset));
                }
                _ => {
                    tracing::warn!(path = %path.display(), "unreadable producer state snapshot ignored")
                }
            }
        }
        Ok(None)
    }
}

pub fn snapshot_file(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_SUFFIX}"))
}

fn list_snapshots(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SNAPSHOT_SUFFIX) {
            continue;
        }
        if let Some(offset) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<i64>().ok())
        {
            out.push((offset, path));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset: offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    #[test]
    fn given_idle_producer_when_expiry_passes_should_be_forgotten() {
        let mut m = ProducerStateManager::new();
        m.replay(&header(7, 0, 0, 1, 0), None);
        let now = crate::clock::wall_clock_ms();
        assert_eq!(m.remove_expired(now, 60_000), 0, "fresh producer kept");
        assert_eq!(
            m.remove_expired(now + 60_000, 60_000),
            1,
            "idle producer expired"
        );
        assert!(m.producer(7).is_none());
    }

    fn apply(m: &mut ProducerStateManager, h: BatchHeader) -> Result<Option<BatchMetadata>> {
        let mut staged = StagedProducers::new();
        let r = m.check(&staged, &h)?;
        if r.is_none() {
            m.stage(&mut staged, &h);
            m.commit(staged);
        }
        Ok(r)
    }

    #[test]
    fn given_sequences_when_checked_should_enforce_order_dedup_and_fencing() {
        let mut m = ProducerStateManager::new();
        assert!(matches!(
            apply(&mut m, header(1, 0, 3, 1, 0)),
            Err(StorageError::OutOfOrderSequence { .. })
        ));
        assert_eq!(apply(&mut m, header(1, 0, 0, 2, 0)).unwrap(), None);
        assert_eq!(apply(&mut m, header(1, 0, 2, 1, 2)).unwrap(), None);
        let dup = apply(&mut m, header(1, 0, 0, 2, 99)).unwrap().unwrap();
        assert_eq!((dup.first_offset, dup.last_offset), (0, 1));
        assert!(matches!(
            apply(&mut m, header(1, 0, 5, 1, 3)),
            Err(StorageError::OutOfOrderSequence { expected: 3, .. })
        ));
        assert!(matches!(
            apply(&mut m, header(1, 1, 1, 1, 3)),
            Err(StorageError::OutOfOrderSequence { .. })
        ));
        assert_eq!(apply(&mut m, header(1, 1, 0, 1, 3)).unwrap(), None);
        assert!(matches!(
            apply(&mut m, header(1, 0, 3, 1, 4)),
            Err(StorageError::InvalidProducerEpoch { .. })
        ));
    }

    #[test]
    fn given_snapshot_when_loaded_should_restore_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new();
        m.replay(&header(7, 2, 0, 3, 10), None);
        m.take_snapshot(dir.path(), 13).unwrap();
        m.take_snapshot(dir.path(), 20).unwrap();
        let mut loaded = ProducerStateManager::new();
        assert_eq!(loaded.load_snapshot(dir.path(), 15).unwrap(), Some(13));
        assert_eq!(loaded.producer(7), m.producer(7));
        assert!(!snapshot_file(dir.path(), 20).exists());
    }
}
