//! Counting and latency histograms. Every worker records into its own [`Recorder`] (a mutex that
//! only the progress tick ever contends for), and the tick folds recorders into a [`Totals`].
//! Records count toward the figures only inside the measurement window; everything counts toward
//! the progress line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Highest latency tracked: one hour in microseconds (larger values are clamped).
const MAX_US: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    // 3 significant digits over 1 µs .. 1 h: constant, valid bounds.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("constant histogram bounds are valid")
}

/// The measurement window in wall-clock microseconds, `[start, end)`; set by the orchestrator.
pub struct Window {
    start: AtomicU64,
    end: AtomicU64,
}

impl Window {
    pub fn new() -> Arc<Window> {
        Arc::new(Window {
            start: AtomicU64::new(u64::MAX),
            end: AtomicU64::new(u64::MAX),
        })
    }

    pub fn set(&self, start_us: u64, end_us: u64) {
        self.end.store(end_us, Ordering::SeqCst);
        self.start.store(start_us, Ordering::SeqCst);
    }

    pub fn contains(&self, t_us: u64) -> bool {
        t_us >= self.start.load(Ordering::Relaxed) && t_us < self.end.load(Ordering::Relaxed)
    }
}

/// What one worker saw since the last tick.
pub struct Part {
    /// Records and bytes inside the window.
    pub records: u64,
    pub bytes: u64,
    /// Latencies (µs) of records inside the window.
    pub hist: Histogram<u64>,
    /// Everything, for the progress line.
    pub all_records: u64,
    pub all_bytes: u64,
    pub tick_hist: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Wall time (µs) of the last in-window event.
    pub last_us: u64,
}

impl Part {
    fn new() -> Part {
        Part {
            records: 0,
            bytes: 0,
            hist: histogram(),
            all_records: 0,
            all_bytes: 0,
            tick_hist: histogram(),
            errors: 0,
            first_error: None,
            last_us: 0,
        }
    }
}

/// One worker's recorder.
pub struct Recorder(Mutex<Part>);

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Part> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder(Mutex::new(Part::new())))
    }

    /// A record of `bytes` seen at `now_us`; `latency_us` when it is measured; `in_window` says
    /// whether it counts toward the figures.
    pub fn record(&self, bytes: u64, now_us: u64, latency_us: Option<u64>, in_window: bool) {
        let mut p = self.lock();
        p.all_records += 1;
        p.all_bytes += bytes;
        if let Some(l) = latency_us {
            p.tick_hist.saturating_record(l.clamp(1, MAX_US));
        }
        if in_window {
            p.records += 1;
            p.bytes += bytes;
            p.last_us = p.last_us.max(now_us);
            if let Some(l) = latency_us {
                p.hist.saturating_record(l.clamp(1, MAX_US));
            }
        }
    }

    pub fn error(&self, message: impl FnOnce() -> String) {
        let mut p = self.lock();
        p.errors += 1;
        if p.first_error.is_none() {
            p.first_error = Some(message());
        }
    }

    /// Takes what was recorded since the last call.
    fn take(&self) -> Part {
        std::mem::replace(&mut *self.lock(), Part::new())
    }
}

/// Running totals of one side (producers or consumers).
pub struct Totals {
    pub records: u64,
    pub bytes: u64,
    pub hist: Histogram<u64>,
    pub all_records: u64,
    pub all_bytes: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub last_us: u64,
    /// Per tick: records, bytes and latencies since the previous tick.
    pub tick_records: u64,
    pub tick_bytes: u64,
    pub tick_hist: Histogram<u64>,
    pub recorders: Vec<Arc<Recorder>>,
}

impl Totals {
    pub fn new(recorders: Vec<Arc<Recorder>>) -> Totals {
        Totals {
            records: 0,
            bytes: 0,
            hist: histogram(),
            all_records: 0,
            all_bytes: 0,
            errors: 0,
            first_error: None,
            last_us: 0,
            tick_records: 0,
            tick_bytes: 0,
            tick_hist: histogram(),
            recorders,
        }
    }

    /// Folds every recorder in; the `tick_*` fields then hold what happened since the last call.
    pub fn collect(&mut self) {
        self.tick_records = 0;
        self.tick_bytes = 0;
        self.tick_hist.reset();
        for r in &self.recorders {
            let p = r.take();
            self.records += p.records;
            self.bytes += p.bytes;
            let _ = self.hist.add(&p.hist);
            self.all_records += p.all_records;
            self.all_bytes += p.all_bytes;
            self.tick_records += p.all_records;
            self.tick_bytes += p.all_bytes;
            let _ = self.tick_hist.add(&p.tick_hist);
            self.errors += p.errors;
            if self.first_error.is_none() {
                self.first_error = p.first_error;
            }
            self.last_us = self.last_us.max(p.last_us);
        }
    }

    /// Summary JSON over `secs` seconds of window.
    pub fn to_json(&self, secs: f64, with_latency: bool) -> Value {
        let secs = secs.max(1e-9);
        json!({
            "records": self.records,
            "bytes": self.bytes,
            "records_per_s": round(self.records as f64 / secs, 1),
            "mb_per_s": round(self.bytes as f64 / secs / 1e6, 3),
            "errors": self.errors,
            "first_error": self.first_error,
            "latency_us": if with_latency { latency_json(&self.hist) } else { Value::Null },
        })
    }
}

/// p50/p90/p99/p99.9/max/mean of a histogram in microseconds, or null when empty.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "count": h.len(),
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p99_9": h.value_at_quantile(0.999),
        "max": h.max(),
        "mean": round(h.mean(), 1),
    })
}

pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// `1234` µs as `1.23ms`, `87` as `87µs`, `2_500_000` as `2.50s`.
pub fn fmt_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else if us >= 1000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{us}µs")
    }
}

/// `12345.6` as `12.3k`.
pub fn fmt_count(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_records_when_collecting_should_count_window_and_ticks_separately() {
        let r = Recorder::new();
        let mut t = Totals::new(vec![r.clone()]);
        r.record(100, 10, Some(500), false);
        r.record(100, 20, Some(1500), true);
        r.error(|| "boom".to_string());
        t.collect();
        assert_eq!(
            (t.records, t.bytes, t.all_records, t.tick_records),
            (1, 100, 2, 2)
        );
        assert_eq!(t.errors, 1);
        assert_eq!(t.first_error.as_deref(), Some("boom"));
        assert_eq!(t.last_us, 20);
        t.collect();
        assert_eq!((t.records, t.tick_records), (1, 0));
        let j = t.to_json(1.0, true);
        assert_eq!(j["latency_us"]["count"], 1);
        assert!(j["latency_us"]["p99"].as_u64().unwrap() >= 1499);
    }
}
