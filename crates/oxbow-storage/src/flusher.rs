//! Group commit: one background thread per LogManager turns many "make (log, offset) durable"
//! requests into few fsyncs. It takes everything queued, fsyncs each log's active segment once,
//! advances recovery points, then completes all the waiters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub(crate) use crate::durability::DurabilityGauge;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::error::{Result, StorageError};
use crate::failure::copy_error;
use crate::unified_log::UnifiedLog;

pub(crate) struct FlushRequest {
    pub targets: Vec<(Arc<UnifiedLog>, i64)>,
    pub done: oneshot::Sender<Result<()>>,
}

/// Told how long each log's fsync took (Kafka's `LogFlushRateAndTimeMs`).
pub type FlushObserver = Arc<dyn Fn(Duration) + Send + Sync>;

pub(crate) struct Flusher {
    /// Group-commit latency, last flush, requests waiting: written by the thread, read by
    /// readers that pace themselves by it (the catch-up reader).
    gauge: DurabilityGauge,
    observer: Arc<OnceLock<FlushObserver>>,
    sender: Mutex<Option<Sender<FlushRequest>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    pub fn start(name: String) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let gauge = DurabilityGauge {
            latency_us: Arc::new(AtomicU64::new(0)),
            last_flush_ms: Arc::new(AtomicU64::new(0)),
            pending: Arc::new(AtomicUsize::new(0)),
        };
        let g = gauge.clone();
        let observer: Arc<OnceLock<FlushObserver>> = Arc::default();
        let o = observer.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(receiver, &g, &o))?;
        Ok(Self {
            gauge,
            observer,
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a request; the receiver completes once every target is durable (or failed).
    pub fn submit(&self, targets: Vec<(Arc<UnifiedLog>, i64)>) -> oneshot::Receiver<Result<()>> {
        let (done, rx) = oneshot::channel();
        if targets.is_empty() {
            let _ = done.send(Ok(()));
            return rx;
        }
        let request = FlushRequest { targets, done };
        self.gauge.pending.fetch_add(1, Ordering::AcqRel);
        let rejected = match self.sender.lock().as_ref() {
            Some(s) => s.send(request).err().map(|e| e.0),
            None => Some(request),
        };
        if let Some(req) = rejected {
            // The flusher has stopped: flush inline so callers still get an answer.
            let result = flush_targets(&req.targets);
            self.gauge.pending.fetch_sub(1, Ordering::AcqRel);
            let _ = req.done.send(result);
        }
        rx
    }

    /// Sets who is told each fsync's duration (once; later calls are ignored).
    pub fn observe(&self, observer: FlushObserver) {
        let _ = self.observer.set(observer);
    }

    /// A view of how busy durable writes keep the disk, for readers that must not get in the way.
    pub fn gauge(&self) -> DurabilityGauge {
        self.gauge.clone()
    }

    /// Stops the thread after it has served everything already queued.
    pub fn stop(&self) {
        self.sender.lock().take();
        if let Some(t) = self.thread.lock().take() {
            if t.join().is_err() {
                tracing::error!("flusher thread panicked");
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn flush_targets(targets: &[(Arc<UnifiedLog>, i64)]) -> Result<()> {
    for (log, offset) in targets {
        log.flush_up_to(*offset)?;
    }
    Ok(())
}

fn run(
    receiver: Receiver<FlushRequest>,
    gauge: &DurabilityGauge,
    observer: &OnceLock<FlushObserver>,
) {
    while let Ok(first) = receiver.recv() {
        let started = std::time::Instant::now();
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        // One fsync per log, to the highest offset anyone waits for.
        let mut wanted: HashMap<*const UnifiedLog, (Arc<UnifiedLog>, i64)> = HashMap::new();
        for req in &batch {
            for (log, offset) in &req.targets {
                let e = wanted
                    .entry(Arc::as_ptr(log))
                    .or_insert_with(|| (log.clone(), *offset));
                e.1 = e.1.max(*offset);
            }
        }
        let mut failed: HashMap<*const UnifiedLog, StorageError> = HashMap::new();
        for (key, (log, offset)) in &wanted {
            let one = std::time::Instant::now();
            let flushed = log.flush_up_to(*offset);
            if let Some(o) = observer.get() {
                o(one.elapsed());
            }
            if let Err(e) = flushed {
                tracing::warn!(tp = %log.topic_partition(), offset, error = %e, "flush failed");
                failed.insert(*key, e);
            }
        }
        tracing::trace!(requests = batch.len(), logs = wanted.len(), "group commit");
        let took = started.elapsed().as_micros().min(u64::MAX as u128) as u64;
        let old = gauge.latency_us.load(Ordering::Relaxed);
        let smoothed = if old == 0 { took } else { (old * 3 + took) / 4 };
        gauge.latency_us.store(smoothed, Ordering::Relaxed);
        gauge.last_flush_ms.store(
            crate::clock::wall_clock_ms().max(0) as u64,
            Ordering::Relaxed,
        );
        for req in batch {
            let result = match req
                .targets
                .iter()
                .find_map(|(log, _)| failed.get(&Arc::as_ptr(log)))
            {
                None => Ok(()),
                Some(e) => Err(copy_error(e)),
            };
            gauge.pending.fetch_sub(1, Ordering::AcqRel);
            let _ = req.done.send(result);
        }
    }
}
