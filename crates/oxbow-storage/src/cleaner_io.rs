//! The cleaner's I/O plumbing: the byte-rate throttler that keeps compaction within
//! `log.cleaner.io.max.bytes.per.second`, the stop signal that interrupts it, and a reader that
//! walks the batches of a (non-active, immutable) segment file.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::batch::{self, BatchHeader, RECORD_BATCH_OVERHEAD};
use crate::log_segment::ChunkedReader;

/// A stop flag that sleeping threads can wait on.
#[derive(Debug, Default)]
pub(crate) struct StopSignal {
    stopped: Mutex<bool>,
    cond: Condvar,
}

impl StopSignal {
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.cond.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock()
    }

    /// Sleeps up to `d`; returns true if stopped meanwhile.
    pub fn sleep(&self, d: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.cond.wait_for(&mut stopped, d);
        }
        *stopped
    }
}

/// Limits the cleaner's combined read and write rate (Kafka's Throttler): after each chunk of I/O
/// it sleeps for as long as the bytes done in the current window are ahead of the allowed rate.
/// A window lasts at most one second so that idle time is not banked as a burst.
#[derive(Debug)]
pub(crate) struct Throttler {
    bytes_per_second: u64,
    window_start: Instant,
    window_bytes: u64,
    stop: Arc<StopSignal>,
    /// Total time spent sleeping, for logs and tests.
    pub throttled: Duration,
}

impl Throttler {
    /// `bytes_per_second == 0` means unlimited.
    pub fn new(bytes_per_second: u64, stop: Arc<StopSignal>) -> Self {
        Self {
            bytes_per_second,
            window_start: Instant::now(),
            window_bytes: 0,
            stop,
            throttled: Duration::ZERO,
        }
    }

    /// Accounts for `bytes` of I/O, sleeping if ahead of the rate. Errors if the cleaner is stopping.
    pub fn maybe_throttle(&mut self, bytes: u64) -> io::Result<()> {
        if self.stop.is_stopped() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "cleaner stopping",
            ));
        }
        if self.bytes_per_second == 0 {
            return Ok(());
        }
        self.window_bytes += bytes;
        let elapsed = self.window_start.elapsed();
        let allowed =
            Duration::from_secs_f64(self.window_bytes as f64 / self.bytes_per_second as f64);
        if allowed > elapsed {
            let pause = allowed - elapsed;
            self.throttled += pause;
            if self.stop.sleep(pause) {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "cleaner stopping",
                ));
            }
        }
        if self.window_start.elapsed() >= Duration::from_secs(1) {
            self.window_start = Instant::now();
            self.window_bytes = 0;
        }
        Ok(())
    }
}

/// Calls `f(position, header, bytes)` for every whole, well-framed batch of the first `size` bytes of
/// the segment file at `path`, throttled on the bytes read plus the bytes `f` says it wrote. Stops quietly at a torn or malformed batch (recovery
/// validated these segments; anything else is left untouched).
pub(crate) fn for_each_batch(
    path: &Path,
    size: u64,
    throttler: &mut Throttler,
    mut f: impl FnMut(u64, &BatchHeader, &[u8]) -> io::Result<u64>,
) -> io::Result<()> {
    let file = File::open(path)?;
    let mut reader = ChunkedReader::new(&file, size);
    let mut pos = 0u64;
    while pos < size {
        let Some(h) = reader
            .read(pos, RECORD_BATCH_OVERHEAD)?
            .and_then(BatchHeader::parse)
        else {
            tracing::warn!(path = %path.display(), position = pos, "cleaner: partial batch header, stopping scan");
            break;
        };
        if let Some(problem) = batch::check_header(&h) {
            tracing::warn!(path = %path.display(), position = pos, problem, "cleaner: bad batch header, stopping scan");
            break;
        }
        let Some(bytes) = reader.read(pos, h.size())? else {
            tracing::warn!(path = %path.display(), position = pos, "cleaner: batch cut short, stopping scan");
            break;
        };
        let written = f(pos, &h, bytes)?;
        throttler.maybe_throttle(h.size() as u64 + written)?;
        pos += h.size() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_rate_limit_when_bytes_exceed_it_should_sleep_proportionally() {
        let stop = Arc::new(StopSignal::default());
        let mut t = Throttler::new(1_000_000, stop);
        let start = Instant::now();
        for _ in 0..10 {
            t.maybe_throttle(20_000).unwrap();
        }
        // 200 KB at 1 MB/s: about 200 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(180),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn given_unlimited_rate_when_throttling_should_not_sleep() {
        let mut t = Throttler::new(0, Arc::new(StopSignal::default()));
        let start = Instant::now();
        t.maybe_throttle(1 << 40).unwrap();
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn given_stop_when_throttled_should_interrupt() {
        let stop = Arc::new(StopSignal::default());
        let mut t = Throttler::new(1, stop.clone());
        stop.stop();
        let err = t.maybe_throttle(10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    }
}
