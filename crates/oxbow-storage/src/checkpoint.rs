//! Offset checkpoint files (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`)
//! and the durable-file helpers they share with producer snapshots.
//!
//! Format (Kafka's): a version line `0`, a count line, then `topic partition offset` lines.
//! Files are replaced atomically: write `{name}.tmp`, fsync, rename, fsync the directory.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::api::TopicPartition;

pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
const VERSION: i32 = 0;

/// fsyncs a directory so renames and creations in it are durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Atomically replaces `path` with `content`: tmp file + fsync + rename + fsync of the directory.
pub fn write_atomically(path: &Path, content: &[u8]) -> io::Result<()> {
    write_replacing(path, content, true)
}

/// Replaces `path` with `content` through a temporary file and a rename. With `sync` the data and
/// the directory entry are fsynced before returning; without, the caller makes them durable later
/// in one go (a clean shutdown ends with one `syncfs` instead of thousands of fsyncs).
pub fn write_replacing(path: &Path, content: &[u8], sync: bool) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(content)?;
        if sync {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, path)?;
    if sync {
        if let Some(parent) = path.parent() {
            fsync_dir(parent)?;
        }
    }
    Ok(())
}

/// Flushes every dirty page and inode of the filesystem holding `dir` (Linux `syncfs`).
pub fn sync_filesystem(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = fs::File::open(dir)?;
    // SAFETY: a valid open descriptor.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Writes a checkpoint file with the given entries.
pub fn write_checkpoint(path: &Path, entries: &BTreeMap<TopicPartition, i64>) -> io::Result<()> {
    let mut s = format!("{VERSION}\n{}\n", entries.len());
    for (tp, off) in entries {
        s.push_str(&format!("{} {} {}\n", tp.topic, tp.partition, off));
    }
    write_atomically(path, s.as_bytes())
}

/// Reads a checkpoint file. A missing file is empty; a malformed one is reported and treated as empty
/// (which is safe: recovery then starts from the beginning of each log).
pub fn read_checkpoint(path: &Path) -> io::Result<BTreeMap<TopicPartition, i64>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    match parse_checkpoint(&text) {
        Some(m) => Ok(m),
        None => {
            tracing::warn!(path = %path.display(), "malformed checkpoint file ignored");
            Ok(BTreeMap::new())
        }
    }
}

fn parse_checkpoint(text: &str) -> Option<BTreeMap<TopicPartition, i64>> {
    let mut lines = text.lines();
    let version: i32 = lines.next()?.trim().parse().ok()?;
    if version != VERSION {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut out = BTreeMap::new();
    for line in lines.by_ref().take(count) {
        let mut parts = line.split_whitespace();
        let topic = parts.next()?;
        let partition: i32 = parts.next()?.parse().ok()?;
        let offset: i64 = parts.next()?.parse().ok()?;
        out.insert(TopicPartition::new(topic, partition), offset);
    }
    if out.len() != count {
        return None;
    }
    Some(out)
}

/// The log start offsets of every log of a directory, persisted together in one file.
/// Logs update their entry and the file is rewritten before the change is acknowledged.
#[derive(Debug)]
pub struct LogStartOffsetCheckpoint {
    path: PathBuf,
    entries: Mutex<BTreeMap<TopicPartition, i64>>,
}

impl LogStartOffsetCheckpoint {
    pub fn new(dir: &Path, initial: BTreeMap<TopicPartition, i64>) -> Self {
        Self {
            path: dir.join(LOG_START_OFFSET_CHECKPOINT),
            entries: Mutex::new(initial),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<i64> {
        self.entries.lock().get(tp).copied()
    }

    /// Records a log's start offset (in memory only); `persist` writes the file.
    pub fn set(&self, tp: &TopicPartition, offset: i64) {
        self.entries.lock().insert(tp.clone(), offset);
    }

    pub fn remove(&self, tp: &TopicPartition) {
        self.entries.lock().remove(tp);
    }

    /// Records and durably writes a log's new start offset.
    pub fn update_and_persist(&self, tp: &TopicPartition, offset: i64) -> io::Result<()> {
        let mut entries = self.entries.lock();
        let e = entries.entry(tp.clone()).or_insert(offset);
        *e = (*e).max(offset);
        write_checkpoint(&self.path, &entries)
    }

    pub fn persist(&self) -> io::Result<()> {
        let entries = self.entries.lock();
        write_checkpoint(&self.path, &entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_entries_when_written_and_read_should_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
        let mut m = BTreeMap::new();
        m.insert(TopicPartition::new("a-b", 3), 42);
        m.insert(TopicPartition::new("c", 0), 0);
        write_checkpoint(&path, &m).unwrap();
        assert_eq!(read_checkpoint(&path).unwrap(), m);
    }

    #[test]
    fn given_garbage_when_read_should_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        fs::write(&path, "0\n5\nonly one 1\n").unwrap();
        assert!(read_checkpoint(&path).unwrap().is_empty());
    }
}
