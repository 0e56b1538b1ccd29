//! Reads for consumers that are catching up, paced so they cannot starve producers.
//!
//! A fetch from the tail is served from the page cache with `sendfile`. A fetch from an older
//! segment (a lagging reader, a new consumer group reading from the beginning) would make that
//! `sendfile` wait for the disk on one of the broker's few async threads, and compete with the
//! producers' fsyncs for the disk. Such ranges are read here instead: one at a time, on a blocking
//! thread, at a rate that halves whenever the group-commit latency shows the disk is busy with
//! durable writes and grows again while it is not (additive increase, multiplicative decrease).
//! When no producer waits for an fsync, readers go as fast as the disk allows.

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use oxbow_storage::{FileSlice, LogManager};
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
/// A group commit slower than this (smoothed) means durable writes are waiting on the disk
/// (an idle fdatasync here takes 0.2–0.4 ms).
const BUSY_US: u64 = 1_000;
/// Reads go to the disk in pieces this large, each paced on its own, so an fsync never queues
/// behind a long read.
const PIECE: usize = 256 << 10;

pub struct CatchUpReader {
    rate: AtomicU64,
    last_adjust: Mutex<Instant>,
    next_start: Mutex<Instant>,
    one_at_a_time: Semaphore,
}

impl Default for CatchUpReader {
    fn default() -> Self {
        Self {
            rate: AtomicU64::new(MAX_RATE),
            last_adjust: Mutex::new(Instant::now()),
            next_start: Mutex::new(Instant::now()),
            one_at_a_time: Semaphore::new(1),
        }
    }
}

impl CatchUpReader {
    /// Reads a cold file range into memory, pacing by the producers' fsync latency.
    pub async fn read(&self, logs: &LogManager, slice: FileSlice) -> std::io::Result<Bytes> {
        let _turn = self
            .one_at_a_time
            .acquire()
            .await
            .map_err(std::io::Error::other)?;
        let mut buf = vec![0u8; slice.len];
        let mut done = 0usize;
        while done < slice.len {
            let len = PIECE.min(slice.len - done);
            self.pace(logs, len).await;
            let file = slice.file.clone();
            let at = slice.position + done as u64;
            let (back, got) = tokio::task::spawn_blocking(move || {
                let got = read_into(&file, &mut buf[done..done + len], at);
                (buf, got)
            })
            .await
            .map_err(std::io::Error::other)?;
            buf = back;
            let got = got?;
            done += got;
            if got < len {
                break;
            }
        }
        buf.truncate(done);
        Ok(Bytes::from(buf))
    }

    /// Waits for this piece's turn at the current pace, adjusting the pace first.
    async fn pace(&self, logs: &LogManager, len: usize) {
        let busy = logs
            .recent_fsync_latency_us(crate::now_ms(), 2_000)
            .is_some_and(|latency| latency > BUSY_US);
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

    /// The current pace in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }
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
