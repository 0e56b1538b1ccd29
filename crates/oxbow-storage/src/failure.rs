//! The log directory failure channel: classifies I/O errors and takes the directory offline.
//!
//! Any I/O error other than "no space left" marks the whole log directory offline (as Kafka's
//! LogDirFailureChannel does): the error is logged once and every later append, read or flush
//! on a log in the directory fails with [`StorageError::LogDirOffline`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Result, StorageError};

#[derive(Debug)]
pub struct LogDirFailureChannel {
    dir: PathBuf,
    offline: AtomicBool,
}

impl LogDirFailureChannel {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            offline: AtomicBool::new(false),
        }
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Fails with `LogDirOffline` once the directory has been taken offline.
    pub fn check(&self) -> Result<()> {
        if self.is_offline() {
            Err(StorageError::LogDirOffline(self.dir.clone()))
        } else {
            Ok(())
        }
    }

    /// Turns an I/O error into a StorageError. ENOSPC becomes `NoSpace` (the directory stays online);
    /// anything else takes the directory offline.
    pub fn io_error(&self, path: &Path, op: &'static str, source: io::Error) -> StorageError {
        if is_no_space(&source) {
            tracing::warn!(path = %path.display(), op, "no space left on device");
            return StorageError::NoSpace {
                path: path.to_path_buf(),
            };
        }
        self.mark_offline(path, op, &source);
        StorageError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// Takes the directory offline, logging the cause the first time only.
    pub fn mark_offline(&self, path: &Path, op: &str, cause: &io::Error) {
        if !self.offline.swap(true, Ordering::AcqRel) {
            tracing::error!(
                dir = %self.dir.display(), path = %path.display(), op, error = %cause,
                "I/O error: taking log directory offline"
            );
        }
    }
}

/// True for ENOSPC (and EDQUOT, a quota running out, which behaves the same).
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// A copy of an error for each of several waiters (StorageError is not Clone: io::Error is not).
pub fn copy_error(e: &StorageError) -> StorageError {
    match e {
        StorageError::Io { path, op, source } => StorageError::Io {
            path: path.clone(),
            op,
            source: io::Error::new(source.kind(), source.to_string()),
        },
        StorageError::NoSpace { path } => StorageError::NoSpace { path: path.clone() },
        StorageError::ForeignLog => StorageError::ForeignLog,
        StorageError::LogDirOffline(p) => StorageError::LogDirOffline(p.clone()),
        StorageError::CorruptRecord(m) => StorageError::CorruptRecord(m.clone()),
        StorageError::InvalidRecord(m) => StorageError::InvalidRecord(m.clone()),
        StorageError::InvalidTxnState(m) => StorageError::InvalidTxnState(m.clone()),
        StorageError::MessageTooLarge { size, max } => StorageError::MessageTooLarge {
            size: *size,
            max: *max,
        },
        StorageError::OffsetOutOfRange {
            requested,
            log_start,
            log_end,
        } => StorageError::OffsetOutOfRange {
            requested: *requested,
            log_start: *log_start,
            log_end: *log_end,
        },
        StorageError::OutOfOrderSequence {
            producer_id,
            expected,
            found,
        } => StorageError::OutOfOrderSequence {
            producer_id: *producer_id,
            expected: *expected,
            found: *found,
        },
        StorageError::InvalidProducerEpoch {
            producer_id,
            epoch,
            current,
        } => StorageError::InvalidProducerEpoch {
            producer_id: *producer_id,
            epoch: *epoch,
            current: *current,
        },
        StorageError::LogDeleted(s) => StorageError::LogDeleted(s.clone()),
    }
}

/// Builds the error a failpoint injects: `return(enospc)` gives ENOSPC, anything else EIO.
#[cfg(feature = "failpoints")]
pub fn injected_error(arg: Option<String>) -> io::Error {
    match arg.as_deref() {
        Some("enospc") => io::Error::from_raw_os_error(libc::ENOSPC),
        _ => io::Error::from_raw_os_error(libc::EIO),
    }
}

/// Evaluates a failpoint that, when configured, makes the enclosing `io::Result` function fail.
macro_rules! io_fail_point {
    ($name:expr) => {
        #[cfg(feature = "failpoints")]
        {
            fail::fail_point!($name, |arg| Err($crate::failure::injected_error(arg)));
        }
    };
}
pub(crate) use io_fail_point;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_enospc_when_classified_should_stay_online() {
        let ch = LogDirFailureChannel::new(PathBuf::from("/x"));
        let e = ch.io_error(
            Path::new("/x/a"),
            "write",
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert!(matches!(e, StorageError::NoSpace { .. }));
        assert!(ch.check().is_ok());
    }

    #[test]
    fn given_eio_when_classified_should_go_offline() {
        let ch = LogDirFailureChannel::new(PathBuf::from("/x"));
        let e = ch.io_error(
            Path::new("/x/a"),
            "write",
            io::Error::from_raw_os_error(libc::EIO),
        );
        assert!(matches!(e, StorageError::Io { .. }));
        assert!(matches!(ch.check(), Err(StorageError::LogDirOffline(_))));
    }
}
