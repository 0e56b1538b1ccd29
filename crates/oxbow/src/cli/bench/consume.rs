//! A reader worker: one librdkafka consumer on its own thread, either in a consumer group
//! (subscribe) or assigned every partition directly (`--assign`: dummy group id, no commits).
//! It records bytes, records and, for e2e and fanout, latency from the intended send time stored in
//! each value.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::options::Plan;
use super::payload::{now_us, sent_us};
use super::produce::client_error;
use super::stats::{Recorder, Window};

/// What reader threads share with the orchestrator.
pub struct ReadShared {
    pub window: Arc<Window>,
    pub stop: AtomicBool,
    /// Latency is measured (the values carry their send time) and the window is by send time;
    /// otherwise the window is by arrival time.
    pub measure_latency: bool,
    /// Per group, per partition id: the highest offset received + 1.
    pub next: Vec<Vec<AtomicI64>>,
    /// Records received inside the window, all readers together.
    pub window_received: AtomicU64,
}

impl ReadShared {
    pub fn new(
        window: Arc<Window>,
        groups: usize,
        partitions: usize,
        measure_latency: bool,
    ) -> Arc<ReadShared> {
        Arc::new(ReadShared {
            window,
            stop: AtomicBool::new(false),
            measure_latency,
            next: (0..groups)
                .map(|_| (0..partitions).map(|_| AtomicI64::new(-1)).collect())
                .collect(),
            window_received: AtomicU64::new(0),
        })
    }

    /// Whether every group has received up to `targets` (per partition id; -1: nothing to wait for).
    pub fn reached(&self, targets: &[i64]) -> bool {
        self.next.iter().all(|group| {
            targets
                .iter()
                .zip(group)
                .all(|(&t, n)| t < 0 || n.load(Ordering::Relaxed) >= t)
        })
    }
}

struct ReadContext;

impl ClientContext for ReadContext {
    fn error(&self, error: KafkaError, reason: &str) {
        client_error("consumer", &error, reason);
    }
}

impl ConsumerContext for ReadContext {}

/// A running reader.
pub struct ConsumerWorker {
    pub recorder: Arc<Recorder>,
    pub group: usize,
    /// Partitions currently assigned to this reader.
    pub assigned: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

impl ConsumerWorker {
    /// Starts reader `index` of group `group`. With `assign` set, the reader assigns those
    /// partitions at those offsets; otherwise it subscribes to the topic.
    pub fn start(
        plan: &Plan,
        run_id: &str,
        group: usize,
        index: usize,
        assign: Option<&[(i32, Offset)]>,
        shared: Arc<ReadShared>,
    ) -> anyhow::Result<ConsumerWorker> {
        let config = plan.consumer_config(run_id, group, index)?;
        let consumer: BaseConsumer<ReadContext> =
            BaseConsumer::from_config_and_context(&config, ReadContext)
                .context("creating consumer")?;
        let assigned = Arc::new(AtomicUsize::new(0));
        match assign {
            Some(list) => {
                let mut tpl = TopicPartitionList::new();
                for &(p, offset) in list {
                    tpl.add_partition_offset(&plan.topic, p, offset)
                        .context("building the assignment")?;
                }
                consumer.assign(&tpl).context("assigning partitions")?;
                assigned.store(list.len(), Ordering::Relaxed);
            }
            None => consumer.subscribe(&[&plan.topic]).context("subscribing")?,
        }
        let subscribed = assign.is_none();
        let recorder = Recorder::new();
        let (rec, assigned_for_thread) = (recorder.clone(), assigned.clone());
        let thread = std::thread::Builder::new()
            .name(format!("bench-reader-{group}-{index}"))
            .spawn(move || {
                read_loop(
                    &consumer,
                    group,
                    subscribed,
                    &shared,
                    &rec,
                    &assigned_for_thread,
                )
            })
            .context("starting reader thread")?;
        Ok(ConsumerWorker {
            recorder,
            group,
            assigned,
            thread,
        })
    }

    pub fn join(self) {
        let _ = self.thread.join();
    }
}

fn read_loop(
    consumer: &BaseConsumer<ReadContext>,
    group: usize,
    subscribed: bool,
    shared: &ReadShared,
    recorder: &Recorder,
    assigned: &AtomicUsize,
) {
    let mut last_check = Instant::now() - Duration::from_secs(1);
    let next = &shared.next[group];
    while !shared.stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let now = now_us();
                let bytes = (m.payload_len() + m.key().map_or(0, <[u8]>::len)) as u64;
                let (latency, in_window) = if shared.measure_latency {
                    match sent_us(m.payload()) {
                        Some(s) => (Some(now.saturating_sub(s)), shared.window.contains(s)),
                        None => (None, false),
                    }
                } else {
                    (None, shared.window.contains(now))
                };
                recorder.record(bytes, now, latency, in_window);
                if in_window {
                    shared.window_received.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(slot) = usize::try_from(m.partition())
                    .ok()
                    .and_then(|p| next.get(p))
                {
                    slot.fetch_max(m.offset() + 1, Ordering::Relaxed);
                }
            }
            Some(Err(e)) => recorder.error(|| format!("consume: {e}")),
            None => {}
        }
        if subscribed && last_check.elapsed() >= Duration::from_millis(200) {
            last_check = Instant::now();
            if let Ok(tpl) = consumer.assignment() {
                assigned.store(tpl.count(), Ordering::Relaxed);
            }
        }
    }
    if subscribed {
        // Leave the group promptly so the next run does not wait for a session timeout.
        consumer.unsubscribe();
    }
}
