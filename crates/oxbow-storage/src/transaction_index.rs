//! The aborted-transaction index of one segment (Kafka's TransactionIndex, `{base:020}.txnindex`):
//! for every transaction aborted by a marker in the segment, the producer id, the transaction's
//! first and last (marker) offsets and the last stable offset when it was aborted. Fetches with
//! `read_committed` hand the overlapping entries to clients, which drop the aborted batches.
//!
//! Entries are fixed 34-byte records in Kafka's layout (version i16 = 0, producerId i64,
//! firstOffset i64, lastOffset i64, lastStableOffset i64). They are appended when the marker is
//! written and fsynced with the segment at roll; after a crash the loader drops entries past the
//! recovered log end and replay of the producer state re-adds any that were lost.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const TXN_INDEX_SUFFIX: &str = "txnindex";
const ENTRY_LEN: usize = 34;

/// One aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// Offset of the abort marker.
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[0..2].copy_from_slice(&0i16.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b.get(at..at + 8)?);
            Some(i64::from_be_bytes(a))
        };
        if b.len() < ENTRY_LEN || i16::from_be_bytes([b[0], b[1]]) != 0 {
            return None;
        }
        Some(Self {
            producer_id: i64_at(2)?,
            first_offset: i64_at(10)?,
            last_offset: i64_at(18)?,
            last_stable_offset: i64_at(26)?,
        })
    }
}

#[derive(Debug)]
pub struct TransactionIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
}

impl TransactionIndex {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            entries: Vec::new(),
        }
    }

    /// Reads the file if it exists; a torn or unreadable tail is dropped (replay re-adds it).
    pub fn load(path: PathBuf) -> io::Result<Self> {
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY_LEN);
        for chunk in bytes.chunks(ENTRY_LEN) {
            match AbortedTxn::decode(chunk) {
                Some(e)
                    if entries
                        .last()
                        .is_none_or(|l: &AbortedTxn| l.last_offset < e.last_offset) =>
                {
                    entries.push(e)
                }
                _ => break,
            }
        }
        let index = Self { path, entries };
        if index.entries.len() * ENTRY_LEN != bytes.len() {
            tracing::warn!(path = %index.path.display(), "torn transaction index tail dropped");
            index.rewrite()?;
        }
        Ok(index)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry (ignored if its marker is not after the last one: a replay of what the file
    /// already holds). Written to the file at once; made durable at roll.
    pub fn append(&mut self, entry: AbortedTxn) -> io::Result<()> {
        if self
            .entries
            .last()
            .is_some_and(|l| l.last_offset >= entry.last_offset)
        {
            return Ok(());
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&entry.encode())?;
        self.entries.push(entry);
        Ok(())
    }

    /// Drops the entries whose marker is at or after `offset` (a truncated or recovered tail).
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        self.rewrite()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn rewrite(&self) -> io::Result<()> {
        if self.entries.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let bytes: Vec<u8> = self.entries.iter().flat_map(|e| e.encode()).collect();
        fs::write(&self.path, bytes)
    }

    /// Makes the file durable (every entry is written to it when added or truncated, so there
    /// is nothing to rewrite), if there is one.
    pub fn persist_with(&self, sync: bool) -> io::Result<()> {
        if sync && !self.entries.is_empty() {
            fs::File::open(&self.path)?.sync_data()?;
        }
        Ok(())
    }

    /// Entries overlapping `[from, upper)`: aborted transactions a reader of that range must know.
    pub fn collect_overlapping(&self, from: i64, upper: i64, out: &mut Vec<AbortedTxn>) {
        out.extend(
            self.entries
                .iter()
                .filter(|e| e.last_offset >= from && e.first_offset < upper),
        );
    }
}

/// Aborted transactions by producer, to ask whether a batch belongs to one (the cleaner).
#[derive(Debug, Default)]
pub struct AbortedSet {
    by_producer: std::collections::HashMap<i64, Vec<(i64, i64)>>,
}

impl AbortedSet {
    pub fn new(entries: impl IntoIterator<Item = AbortedTxn>) -> Self {
        let mut set = Self::default();
        for e in entries {
            set.by_producer
                .entry(e.producer_id)
                .or_default()
                .push((e.first_offset, e.last_offset));
        }
        set
    }

    /// Whether a transactional batch of `producer_id` at `offset` was aborted.
    pub fn contains(&self, producer_id: i64, offset: i64) -> bool {
        self.by_producer.get(&producer_id).is_some_and(|r| {
            r.iter()
                .any(|(first, last)| *first <= offset && offset <= *last)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: first,
        }
    }

    #[test]
    fn given_entries_when_reloaded_truncated_and_replayed_should_keep_one_copy_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.txnindex");
        let mut index = TransactionIndex::new(path.clone());
        index.append(txn(1, 0, 5)).unwrap();
        index.append(txn(2, 3, 9)).unwrap();
        index.append(txn(2, 3, 9)).unwrap();
        let mut loaded = TransactionIndex::load(path.clone()).unwrap();
        assert_eq!(loaded.entries(), &[txn(1, 0, 5), txn(2, 3, 9)]);
        loaded.truncate_to(9).unwrap();
        assert_eq!(
            TransactionIndex::load(path.clone()).unwrap().entries(),
            &[txn(1, 0, 5)]
        );
        let mut out = Vec::new();
        loaded.collect_overlapping(6, 100, &mut out);
        assert!(out.is_empty());
        loaded.collect_overlapping(5, 100, &mut out);
        assert_eq!(out, vec![txn(1, 0, 5)]);
    }

    #[test]
    fn given_torn_tail_when_loaded_should_drop_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.txnindex");
        let mut bytes = txn(1, 0, 5).encode().to_vec();
        bytes.extend_from_slice(&[0, 0, 1]);
        fs::write(&path, bytes).unwrap();
        let loaded = TransactionIndex::load(path.clone()).unwrap();
        assert_eq!(loaded.entries(), &[txn(1, 0, 5)]);
        assert_eq!(fs::metadata(&path).unwrap().len(), ENTRY_LEN as u64);
    }
}
