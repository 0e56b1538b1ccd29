//! How busy producers' fsyncs keep the disk: written by the flusher thread, read by readers
//! that must stay out of their way.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// How busy the group commit keeps the disk (shared with the flusher thread).
#[derive(Debug, Clone)]
pub(crate) struct DurabilityGauge {
    pub latency_us: Arc<AtomicU64>,
    pub last_flush_ms: Arc<AtomicU64>,
    pub pending: Arc<AtomicUsize>,
}

impl DurabilityGauge {
    /// Whether a durable write is queued or being fsynced right now.
    pub fn busy(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    /// The smoothed group-commit duration if producers have needed an fsync in the last
    /// `within_ms`; None when nobody is waiting for durability.
    pub fn recent_latency_us(&self, now_ms: i64, within_ms: i64) -> Option<u64> {
        let last = self.last_flush_ms.load(Ordering::Relaxed) as i64;
        (last > 0 && now_ms - last <= within_ms).then(|| self.latency_us.load(Ordering::Relaxed))
    }
}
