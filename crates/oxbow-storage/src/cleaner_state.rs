//! The cleaner's state and shapes that the log, the log manager and the cleaner all use: kept
//! apart from the cleaner's code so that none of them imports another in a loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::cleaner_io::StopSignal;

pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";

/// The cleaner's memory of one log (kept on the [`UnifiedLog`]).
#[derive(Debug, Clone)]
pub(crate) struct CleanerLogState {
    /// Everything below is clean (compacted at least once); the log start if never cleaned.
    pub first_dirty: i64,
    pub last_clean_ms: i64,
    pub last_duration_ms: i64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// When a kept tombstone may next be removed (triggers a cleaning).
    pub tombstone_expiry_ms: Option<i64>,
}

impl Default for CleanerLogState {
    fn default() -> Self {
        Self {
            first_dirty: 0,
            last_clean_ms: -1,
            last_duration_ms: -1,
            bytes_read: 0,
            bytes_written: 0,
            tombstone_expiry_ms: None,
        }
    }
}

/// A non-active segment as seen when the cleaning started.
#[derive(Debug, Clone)]
pub(crate) struct SegmentRef {
    pub base_offset: i64,
    pub size: u64,
    pub path: PathBuf,
    pub max_timestamp: i64,
}

/// The cleaner thread's handle, owned by the LogManager.
#[derive(Debug)]
pub(crate) struct CleanerHandle {
    pub stop: Arc<StopSignal>,
    pub thread: Mutex<Option<JoinHandle<()>>>,
}

impl CleanerHandle {
    /// Stops the thread (interrupting a throttled or running cleaning) and waits for it.
    pub fn stop(&self) {
        self.stop.stop();
        if let Some(t) = self.thread.lock().take() {
            if t.join().is_err() {
                tracing::error!("log cleaner thread panicked");
            }
        }
    }
}
