//! A latency histogram with fixed bucket bounds (milliseconds), recorded with atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in milliseconds, as Prometheus `le` labels.
pub const BOUNDS_MS: [f64; 16] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    10000.0,
];

#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; 16],
    /// Observations above the last bound.
    over: AtomicU64,
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        match BOUNDS_MS.iter().position(|b| ms <= *b) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Cumulative counts per bound, then the total (the `+Inf` bucket), and the sum in ms.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut acc = 0;
        let mut out = Vec::with_capacity(BOUNDS_MS.len());
        for (b, c) in BOUNDS_MS.iter().zip(&self.buckets) {
            acc += c.load(Ordering::Relaxed);
            out.push((*b, acc));
        }
        let total = acc + self.over.load(Ordering::Relaxed);
        (
            out,
            total,
            self.sum_us.load(Ordering::Relaxed) as f64 / 1000.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_observations_when_snapshotting_should_be_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let (buckets, total, sum) = h.snapshot();
        assert_eq!(buckets[0], (0.1, 1));
        assert_eq!(buckets[5], (5.0, 2));
        assert_eq!(buckets[15], (10000.0, 2));
        assert_eq!(total, 3);
        assert!((sum - 20003.05).abs() < 0.01);
    }
}
