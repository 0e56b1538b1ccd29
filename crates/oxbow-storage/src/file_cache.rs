//! A small LRU cache of read-only file handles for non-active segments, shared by all logs of a
//! LogManager, so that idle logs hold no descriptors beyond their active segment's. A file may
//! have two: one with the kernel's readahead (the default) and one without, for readers that
//! must not queue disk reads ahead of producers' fsyncs (the kernel's asynchronous readahead,
//! once started on a handle, cannot be turned off on it, so the two are kept apart).

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Debug)]
pub struct FileCache {
    capacity: usize,
    /// (path, readahead off, handle), least recently used first.
    entries: Mutex<VecDeque<(PathBuf, bool, Arc<File>)>>,
}

impl FileCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// The cached handle for `path`, opening it if needed (most recently used goes to the back).
    pub fn get_or_open(&self, path: &Path) -> io::Result<Arc<File>> {
        self.get(path, false)
    }

    /// Like [`get_or_open`](Self::get_or_open), but a handle with the kernel's readahead off.
    pub fn get_or_open_without_readahead(&self, path: &Path) -> io::Result<Arc<File>> {
        self.get(path, true)
    }

    fn get(&self, path: &Path, no_readahead: bool) -> io::Result<Arc<File>> {
        let mut entries = self.entries.lock();
        if let Some(i) = entries
            .iter()
            .position(|(p, nr, _)| p == path && *nr == no_readahead)
        {
            if let Some(e) = entries.remove(i) {
                let f = e.2.clone();
                entries.push_back(e);
                return Ok(f);
            }
        }
        let mut f = File::open(path)?;
        if no_readahead {
            f = crate::log_segment::without_readahead(f);
        }
        let f = Arc::new(f);
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back((path.to_path_buf(), no_readahead, f.clone()));
        Ok(f)
    }

    /// Forgets a path (its file is being deleted or replaced).
    pub fn evict(&self, path: &Path) {
        self.entries.lock().retain(|(p, _, _)| p != path);
    }

    /// Forgets every path under `dir`.
    pub fn evict_dir(&self, dir: &Path) {
        self.entries.lock().retain(|(p, _, _)| !p.starts_with(dir));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_full_cache_when_opening_another_should_evict_least_recent() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..3).map(|i| dir.path().join(format!("{i}"))).collect();
        for p in &paths {
            std::fs::write(p, b"x").unwrap();
        }
        let cache = FileCache::new(2);
        cache.get_or_open(&paths[0]).unwrap();
        cache.get_or_open(&paths[1]).unwrap();
        cache.get_or_open(&paths[0]).unwrap();
        cache.get_or_open(&paths[2]).unwrap();
        let held: Vec<_> = cache
            .entries
            .lock()
            .iter()
            .map(|(p, _, _)| p.clone())
            .collect();
        assert_eq!(held, vec![paths[0].clone(), paths[2].clone()]);
    }
}
