//! The time index (`.timeindex`): entries of (max timestamp so far, relative offset of the batch
//! that first reached it), 12 bytes each (i64 BE + u32 BE). An entry is added when the segment's
//! max timestamp grows, at most one per index interval, and a final one when the segment closes,
//! so the last entry holds the segment's max timestamp.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::checkpoint::write_replacing;

pub const TIME_INDEX_ENTRY_SIZE: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub relative_offset: u32,
}

#[derive(Debug, Clone)]
pub struct TimeIndex {
    path: PathBuf,
    entries: Vec<TimestampOffset>,
}

impl TimeIndex {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            entries: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[TimestampOffset] {
        &self.entries
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn last_entry(&self) -> Option<TimestampOffset> {
        self.entries.last().copied()
    }

    pub fn load(path: PathBuf) -> io::Result<Self> {
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let entries = bytes
            .chunks_exact(TIME_INDEX_ENTRY_SIZE)
            .map(|c| {
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&c[..8]);
                TimestampOffset {
                    timestamp: i64::from_be_bytes(ts),
                    relative_offset: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                }
            })
            .collect();
        Ok(Self { path, entries })
    }

    /// Timestamps strictly increasing, offsets non-decreasing and below `next_relative_offset`.
    pub fn sanity_check(&self, next_relative_offset: u64) -> Result<(), String> {
        for w in self.entries.windows(2) {
            if w[1].timestamp <= w[0].timestamp || w[1].relative_offset < w[0].relative_offset {
                return Err(format!(
                    "entries not increasing: {:?} then {:?}",
                    w[0], w[1]
                ));
            }
        }
        if let Some(last) = self.entries.last() {
            if last.relative_offset as u64 >= next_relative_offset.max(1) {
                return Err(format!(
                    "offset {} beyond segment end {next_relative_offset}",
                    last.relative_offset
                ));
            }
        }
        Ok(())
    }

    /// Adds an entry if its timestamp is larger than the last one's.
    pub fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) {
        if let Some(last) = self.entries.last() {
            if timestamp <= last.timestamp || relative_offset < last.relative_offset {
                return;
            }
        }
        self.entries.push(TimestampOffset {
            timestamp,
            relative_offset,
        });
    }

    /// The relative offset to start searching for the first record with timestamp >= `ts`:
    /// that of the last entry whose timestamp is < `ts` (0 if none). Records before it are older.
    pub fn lookup(&self, ts: i64) -> u32 {
        let idx = self.entries.partition_point(|e| e.timestamp < ts);
        if idx == 0 {
            0
        } else {
            self.entries[idx - 1].relative_offset
        }
    }

    /// Writes the index; `sync` = false leaves durability to a later `syncfs`.
    pub fn persist_with(&self, sync: bool) -> io::Result<()> {
        let mut buf = Vec::with_capacity(self.entries.len() * TIME_INDEX_ENTRY_SIZE);
        for e in &self.entries {
            buf.extend_from_slice(&e.timestamp.to_be_bytes());
            buf.extend_from_slice(&e.relative_offset.to_be_bytes());
        }
        write_replacing(&self.path, &buf, sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_entries_when_lookup_should_start_at_last_older_entry() {
        let mut idx = TimeIndex::new(PathBuf::from("x.timeindex"));
        idx.maybe_append(100, 0);
        idx.maybe_append(90, 5); // not larger: ignored
        idx.maybe_append(200, 10);
        assert_eq!(idx.entries().len(), 2);
        assert_eq!(idx.lookup(50), 0);
        assert_eq!(idx.lookup(100), 0);
        assert_eq!(idx.lookup(150), 0);
        assert_eq!(idx.lookup(250), 10);
        assert!(idx.sanity_check(11).is_ok());
        assert!(idx.sanity_check(10).is_err());
    }
}
