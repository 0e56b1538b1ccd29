//! The sparse offset index (`.index`): maps a relative offset to the file position of the batch
//! starting at that offset. One entry every `index.interval.bytes` of log data.
//!
//! Entries live in memory as a `Vec`; the file (8 bytes per entry: relative offset u32 BE,
//! position u32 BE) is written whole when the segment rolls or the log closes cleanly, and is
//! rebuilt from the log after a crash.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::checkpoint::write_replacing;

pub const OFFSET_INDEX_ENTRY_SIZE: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    pub relative_offset: u32,
    pub position: u32,
}

#[derive(Debug, Clone)]
pub struct OffsetIndex {
    path: PathBuf,
    entries: Vec<OffsetPosition>,
}

impl OffsetIndex {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            entries: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[OffsetPosition] {
        &self.entries
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Loads the index file; a missing file gives an empty index.
    pub fn load(path: PathBuf) -> io::Result<Self> {
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let entries = bytes
            .chunks_exact(OFFSET_INDEX_ENTRY_SIZE)
            .map(|c| OffsetPosition {
                relative_offset: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                position: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Ok(Self { path, entries })
    }

    /// Entries strictly increasing in offset and position, positions inside the log file.
    pub fn sanity_check(&self, log_size: u64) -> Result<(), String> {
        for w in self.entries.windows(2) {
            if w[1].relative_offset <= w[0].relative_offset || w[1].position <= w[0].position {
                return Err(format!(
                    "entries not increasing: {:?} then {:?}",
                    w[0], w[1]
                ));
            }
        }
        if let Some(last) = self.entries.last() {
            if last.position as u64 >= log_size {
                return Err(format!(
                    "position {} beyond log size {log_size}",
                    last.position
                ));
            }
        }
        Ok(())
    }

    /// Adds an entry; ignored unless it is past the last one.
    pub fn append(&mut self, relative_offset: u32, position: u32) {
        if let Some(last) = self.entries.last() {
            if relative_offset <= last.relative_offset || position <= last.position {
                return;
            }
        }
        self.entries.push(OffsetPosition {
            relative_offset,
            position,
        });
    }

    /// The entry with the largest offset <= `relative_offset` (position 0 if none).
    pub fn lookup(&self, relative_offset: u32) -> OffsetPosition {
        let idx = self
            .entries
            .partition_point(|e| e.relative_offset <= relative_offset);
        if idx == 0 {
            OffsetPosition {
                relative_offset: 0,
                position: 0,
            }
        } else {
            self.entries[idx - 1]
        }
    }

    /// Writes the whole index file durably.
    /// Writes the index; `sync` = false leaves durability to a later `syncfs`.
    pub fn persist_with(&self, sync: bool) -> io::Result<()> {
        let mut buf = Vec::with_capacity(self.entries.len() * OFFSET_INDEX_ENTRY_SIZE);
        for e in &self.entries {
            buf.extend_from_slice(&e.relative_offset.to_be_bytes());
            buf.extend_from_slice(&e.position.to_be_bytes());
        }
        write_replacing(&self.path, &buf, sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_entries_when_lookup_should_return_floor_entry() {
        let mut idx = OffsetIndex::new(PathBuf::from("x.index"));
        idx.append(10, 100);
        idx.append(20, 200);
        idx.append(15, 300); // out of order: ignored
        assert_eq!(idx.lookup(5).position, 0);
        assert_eq!(idx.lookup(10).position, 100);
        assert_eq!(idx.lookup(19).position, 100);
        assert_eq!(idx.lookup(25).position, 200);
    }

    #[test]
    fn given_persisted_index_when_loaded_should_match_and_be_sane() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = OffsetIndex::new(dir.path().join("0.index"));
        idx.append(3, 40);
        idx.append(9, 90);
        idx.persist_with(true).unwrap();
        let loaded = OffsetIndex::load(dir.path().join("0.index")).unwrap();
        assert_eq!(loaded.entries(), idx.entries());
        assert!(loaded.sanity_check(100).is_ok());
        assert!(loaded.sanity_check(90).is_err());
    }
}
