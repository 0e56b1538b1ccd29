//! What the broker measures, under Kafka's names as the JMX exporter and the common Grafana
//! dashboards show them: per-topic and total `BrokerTopicMetrics` (messages and bytes in, bytes
//! out, failed and total produce/fetch requests), request counts and latency histograms per API
//! (`RequestMetrics`), connections per listener, each log fsync's time (`LogFlushStats`), and —
//! collected at scrape time ([`collect`]) — log size, segments and offsets per partition, the
//! network threads' busy ratio, disk space, groups by state, and consumer lag in records and
//! seconds with Kafka Lag Exporter's names ([`lag`]). Counting on the request path is a few
//! relaxed atomic adds.

pub mod collect;
pub mod lag;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use oxbow_metrics::{Counter, Histogram};
use parking_lot::RwLock;

/// Kafka's `BrokerTopicMetrics` of one topic (or of all).
#[derive(Debug, Default)]
pub struct TopicCounters {
    pub messages_in: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub failed_produce_requests: Counter,
    pub failed_fetch_requests: Counter,
    pub total_produce_requests: Counter,
    pub total_fetch_requests: Counter,
}

/// Kafka's `RequestMetrics` of one API.
#[derive(Debug, Default)]
pub struct RequestStats {
    pub requests: Counter,
    /// Requests per version (Kafka's `RequestsPerSec` `version` tag), so old clients show.
    pub by_version: [Counter; MAX_VERSION + 1],
    /// From the whole frame read to the response ready (`TotalTimeMs`).
    pub total: Histogram,
    /// In the handler itself (`LocalTimeMs`).
    pub local: Histogram,
    /// Waiting for the response's condition: an fsync, data for a long poll (`RemoteTimeMs`).
    pub remote: Histogram,
}

/// Highest API key counted.
const MAX_API: usize = 80;
/// Highest request version counted per version.
pub const MAX_VERSION: usize = 23;

pub struct BrokerMetrics {
    topics: RwLock<HashMap<String, Arc<TopicCounters>>>,
    pub all_topics: TopicCounters,
    requests: Vec<RequestStats>,
    pub started: Instant,
    pub lag: lag::LagTimestamps,
    /// Each log fsync's duration (Kafka's `LogFlushRateAndTimeMs`), told by the storage engine.
    pub log_flush: Arc<Histogram>,
    /// The runtime's busy time at the previous scrape, for the busy ratio between scrapes.
    pub busy_sample: parking_lot::Mutex<Option<(Instant, std::time::Duration)>>,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self {
            topics: RwLock::new(HashMap::new()),
            all_topics: TopicCounters::default(),
            requests: (0..=MAX_API).map(|_| RequestStats::default()).collect(),
            started: Instant::now(),
            lag: lag::LagTimestamps::default(),
            log_flush: Arc::default(),
            busy_sample: parking_lot::Mutex::new(None),
        }
    }
}

impl BrokerMetrics {
    /// The counters of `topic` (created on first use).
    pub fn topic(&self, topic: &str) -> Arc<TopicCounters> {
        if let Some(c) = self.topics.read().get(topic) {
            return c.clone();
        }
        self.topics
            .write()
            .entry(topic.to_string())
            .or_default()
            .clone()
    }

    /// Forgets a deleted topic's counters.
    pub fn forget_topic(&self, topic: &str) {
        self.topics.write().remove(topic);
    }

    pub fn topics(&self) -> Vec<(String, Arc<TopicCounters>)> {
        let mut v: Vec<_> = self
            .topics
            .read()
            .iter()
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The stats of API `key` (`None` for keys beyond the table).
    pub fn request(&self, key: i16) -> Option<&RequestStats> {
        usize::try_from(key).ok().and_then(|k| self.requests.get(k))
    }

    pub fn requests(&self) -> impl Iterator<Item = (i16, &RequestStats)> {
        self.requests
            .iter()
            .enumerate()
            .filter(|(_, s)| s.requests.get() > 0)
            .map(|(k, s)| (k as i16, s))
    }

    /// A produce to `topic` appended `records` records of `bytes` bytes.
    pub fn produced(&self, topic: &TopicCounters, records: u64, bytes: u64) {
        for t in [topic, &self.all_topics] {
            t.messages_in.add(records);
            t.bytes_in.add(bytes);
            t.total_produce_requests.inc();
        }
    }

    pub fn produce_failed(&self, topic: &TopicCounters) {
        for t in [topic, &self.all_topics] {
            t.failed_produce_requests.inc();
            t.total_produce_requests.inc();
        }
    }

    pub fn fetched(&self, topic: &TopicCounters, bytes: u64, failed: bool) {
        for t in [topic, &self.all_topics] {
            t.bytes_out.add(bytes);
            t.total_fetch_requests.inc();
            if failed {
                t.failed_fetch_requests.inc();
            }
        }
    }
}
