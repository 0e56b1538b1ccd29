//! Reads for consumers that are catching up, kept out of the way of producers' fsyncs.
//!
//! A fetch from the tail is served from the page cache with `sendfile`. So is a range that has
//! left the page cache (a lagging reader, a new consumer group reading from the beginning) while
//! no producer waits for fsyncs: the kernel's readahead keeps ahead of the reader.
//!
//! While producers do wait for fsyncs ([`CatchUpReader::careful`]), that readahead would queue
//! megabytes of disk reads (this disk's `read_ahead_kb` is 8 MiB) that every fsync then waits
//! behind. So the fetch reads such ranges through a second handle with readahead off (the
//! kernel's asynchronous readahead, once started on a handle, cannot be stopped on it), finds
//! them uncached, and hands them here; they are brought into the page cache on a blocking thread
//! (never on the async threads), then sent with `sendfile` like any other:
//!
//! - one 256 KiB piece at a time, each held back while an fsync is queued or running (at most
//!   [`MAX_DEFER`]: the reader is slowed, never starved);
//! - at a pace that halves whenever the group-commit latency shows the disk is busy (over twice
//!   what it was with no catch-up read running) and grows again while it is not (additive
//!   increase, multiplicative decrease).

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::wall_clock_ms;
use crate::durability::DurabilityGauge;
use crate::FileSlice;
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The lowest and highest pace of catch-up reads, bytes per second.
const MIN_RATE: u64 = 8 << 20;
const MAX_RATE: u64 = 4 << 30;
/// Added to the pace per adjustment while the disk is not busy.
const STEP: u64 = 16 << 20;
/// The pace changes at most this often.
const ADJUST_EVERY: Duration = Duration::from_millis(100);
/// The disk counts as busy when the smoothed group commit takes longer than this many times
/// what it took while no catch-up read was running ...
const BUSY_FACTOR: u64 = 2;
/// ... or longer than this when that is not known yet (an idle fdatasync here takes 0.2–0.4 ms).
const DEFAULT_IDLE_US: u64 = 400;
/// Catch-up reads count as idle after this long without one (their baseline is then remeasured).
const IDLE_AFTER: Duration = Duration::from_secs(1);
/// Reads go to the disk in pieces this large, each paced on its own, so an fsync never queues
/// behind a long read.
const PIECE: usize = 256 << 10;
/// Producers that needed an fsync this recently make catch-up reads careful.
const DURABLE_WRITERS_WITHIN_MS: i64 = 2_000;
/// The longest a piece waits for producers' fsyncs to finish before it goes anyway.
const MAX_DEFER: Duration = Duration::from_millis(5);
/// How often a deferred piece looks again.
const DEFER_POLL: Duration = Duration::from_micros(50);

#[derive(Debug)]
pub(crate) struct CatchUpReader {
    /// How busy producers' fsyncs keep the disk.
    durability: DurabilityGauge,
    rate: AtomicU64,
    last_adjust: Mutex<Instant>,
    next_start: Mutex<Instant>,
    one_at_a_time: Semaphore,
    /// Group-commit latency while no catch-up read ran (µs), and when the last piece was read.
    idle_fsync_us: AtomicU64,
    last_piece: Mutex<Instant>,
}

impl CatchUpReader {
    pub fn new(durability: DurabilityGauge) -> Self {
        Self {
            durability,
            rate: AtomicU64::new(MAX_RATE),
            last_adjust: Mutex::new(Instant::now()),
            next_start: Mutex::new(Instant::now()),
            one_at_a_time: Semaphore::new(1),
            idle_fsync_us: AtomicU64::new(DEFAULT_IDLE_US),
            last_piece: Mutex::new(
                Instant::now()
                    .checked_sub(IDLE_AFTER)
                    .unwrap_or_else(Instant::now),
            ),
        }
    }
}

impl CatchUpReader {
    /// Whether producers are waiting for fsyncs now or did so in the last couple of seconds: then
    /// uncached ranges are read without readahead and warmed here.
    pub fn careful(&self) -> bool {
        self.durability.busy()
            || self
                .durability
                .recent_latency_us(wall_clock_ms(), DURABLE_WRITERS_WITHIN_MS)
                .is_some()
    }

    /// Brings a cold file range into the page cache in paced pieces, then hands it back (no
    /// longer cold) to be sent with `sendfile`. The bytes pass through a small reused buffer per
    /// thread, never a fresh allocation per fetch.
    /// A range found cold while producers waited but sent after they stopped goes out as it is:
    /// the kernel's readahead keeps ahead of the reader then.
    pub async fn warm(&self, slice: FileSlice) -> std::io::Result<FileSlice> {
        if !self.careful() {
            return Ok(FileSlice {
                cold: false,
                ..slice
            });
        }
        let _turn = self
            .one_at_a_time
            .acquire()
            .await
            .map_err(std::io::Error::other)?;
        let mut done = 0usize;
        while done < slice.len {
            let len = PIECE.min(slice.len - done);
            self.pace(len).await;
            let file = slice.file.clone();
            let durability = self.durability.clone();
            let at = slice.position + done as u64;
            let got = tokio::task::spawn_blocking(move || {
                let deferred_since = std::time::Instant::now();
                while durability.busy() && deferred_since.elapsed() < MAX_DEFER {
                    std::thread::sleep(DEFER_POLL);
                }
                read_through(&file, at, len)
            })
            .await
            .map_err(std::io::Error::other)??;
            done += got;
            if got < len {
                break;
            }
        }
        Ok(FileSlice {
            len: done,
            cold: false,
            ..slice
        })
    }

    /// Waits for this piece's turn at the current pace, adjusting the pace first.
    async fn pace(&self, len: usize) {
        let latency = self.durability.recent_latency_us(wall_clock_ms(), 2_000);
        {
            let mut last = self.last_piece.lock();
            if let Some(l) = latency.filter(|_| last.elapsed() >= IDLE_AFTER) {
                self.idle_fsync_us.store(l.max(1), Ordering::Relaxed);
            }
            *last = Instant::now();
        }
        let idle = self.idle_fsync_us.load(Ordering::Relaxed);
        let busy = latency.is_some_and(|l| l > idle.saturating_mul(BUSY_FACTOR));
        let mut rate = self.rate.load(Ordering::Relaxed);
        {
            let mut last = self.last_adjust.lock();
            if last.elapsed() >= ADJUST_EVERY {
                *last = Instant::now();
                rate = if busy {
                    (rate / 2).max(MIN_RATE)
                } else {
                    rate.saturating_add(STEP).min(MAX_RATE)
                };
                self.rate.store(rate, Ordering::Relaxed);
            }
        }
        let start = {
            let mut next = self.next_start.lock();
            let now = Instant::now();
            let start = (*next).max(now);
            *next = start + Duration::from_secs_f64(len as f64 / rate as f64);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// Reads one piece (`len` ≤ [`PIECE`] bytes from `at`, or up to the end of the file) through this
/// thread's scratch buffer, which leaves it in the page cache; returns how many bytes there were.
fn read_through(file: &std::fs::File, at: u64, len: usize) -> std::io::Result<usize> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < PIECE {
            scratch.resize(PIECE, 0);
        }
        read_into(file, &mut scratch[..len.min(PIECE)], at)
    })
}

/// Fills as much of `buf` from `at` as the file holds (a partial trailing batch is fine to send).
fn read_into(file: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
