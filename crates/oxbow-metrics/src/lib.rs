//! Oxbow's metrics: what the broker counts and how it is shown.
//!
//! This crate owns the building blocks — [`Counter`] and [`Histogram`] (atomics only, so the
//! request path never takes a lock to count), the text exposition in the Prometheus format and,
//! when asked, OpenMetrics ([`text`]) — and the HTTP listener that serves `/metrics`, `/health`
//! and `/ready` as one service of the broker's lifecycle ([`server`]). What is measured, and
//! under which of Kafka's names, is the broker's: it implements [`server::Collect`].

pub mod histogram;
pub mod server;
pub mod text;

use std::sync::atomic::{AtomicU64, Ordering};

pub use histogram::Histogram;
pub use text::Exposition;

/// A monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
