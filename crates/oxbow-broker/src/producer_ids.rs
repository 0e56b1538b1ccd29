//! Producer id allocation that never hands out the same id twice, across crashes.
//!
//! Ids are taken in blocks: the end of the current block is persisted (write, fsync, rename)
//! before any id of it is used, so after a crash allocation resumes past every id ever issued.

use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

const BLOCK: i64 = 1000;

pub struct ProducerIdManager {
    path: PathBuf,
    state: Mutex<(i64, i64)>, // (next id, end of persisted block)
}

impl ProducerIdManager {
    pub fn open(meta_dir: &Path) -> std::io::Result<Self> {
        let path = meta_dir.join("producer-id-block");
        let next = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<i64>().map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(Self {
            path,
            state: Mutex::new((next, next)),
        })
    }

    /// The next producer id.
    pub fn next_id(&self) -> std::io::Result<i64> {
        let mut state = self.state.lock();
        if state.0 >= state.1 {
            let end = state.1 + BLOCK;
            write_atomically(&self.path, end.to_string().as_bytes())?;
            state.1 = end;
        }
        let id = state.0;
        state.0 += 1;
        Ok(id)
    }
}

/// Reads a JSON metadata file written by [`write_atomically`]; a file not there yet is the
/// default (empty) value, one that does not parse an error naming the file.
pub fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
) -> std::io::Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e),
    }
}

/// Writes a small file crash-safely: temp file, fsync, rename, fsync the directory.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_restart_when_allocating_should_never_reuse_ids() {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerIdManager::open(dir.path()).unwrap();
        let a = m.next_id().unwrap();
        let b = m.next_id().unwrap();
        assert!(b > a);
        drop(m);
        let m = ProducerIdManager::open(dir.path()).unwrap();
        assert!(m.next_id().unwrap() > b);
    }
}
