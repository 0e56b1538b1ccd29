//! A producer worker: an open-loop sender thread over a librdkafka `ThreadedProducer` whose
//! delivery callback records acknowledgement latency from each record's intended send time.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use super::options::Plan;
use super::payload::{now_us, sent_us, PayloadGen};
use super::stats::{Recorder, Window};

/// What the sender threads share with the orchestrator.
pub struct SendShared {
    pub window: Arc<Window>,
    /// Set to stop sending (time is up, or an interrupt).
    pub stop: AtomicBool,
    /// Records sent inside the window, across producers (for `--records`).
    pub window_sent: AtomicU64,
    /// Highest acknowledged offset + 1 per partition (index = partition id).
    pub acked_end: Vec<AtomicI64>,
}

impl SendShared {
    pub fn new(window: Arc<Window>, partitions: usize) -> Arc<SendShared> {
        Arc::new(SendShared {
            window,
            stop: AtomicBool::new(false),
            window_sent: AtomicU64::new(0),
            acked_end: (0..partitions).map(|_| AtomicI64::new(-1)).collect(),
        })
    }
}

/// The delivery callback's state.
struct AckContext {
    recorder: Arc<Recorder>,
    shared: Arc<SendShared>,
}

impl ClientContext for AckContext {
    fn error(&self, error: KafkaError, reason: &str) {
        // Transport errors are retried by librdkafka: shown, not counted (failed deliveries are).
        client_error("producer", &error, reason);
    }
}

impl ProducerContext for AckContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let now = now_us();
        match result {
            Ok(m) => {
                let bytes = (m.payload_len() + m.key().map_or(0, <[u8]>::len)) as u64;
                let sent = sent_us(m.payload());
                let in_window = sent.is_some_and(|s| self.shared.window.contains(s));
                self.recorder
                    .record(bytes, now, sent.map(|s| now.saturating_sub(s)), in_window);
                if let Some(slot) = usize::try_from(m.partition())
                    .ok()
                    .and_then(|p| self.shared.acked_end.get(p))
                {
                    slot.fetch_max(m.offset() + 1, Ordering::Relaxed);
                }
            }
            Err((e, _)) => {
                self.recorder.error(|| format!("delivery failed: {e}"));
            }
        }
    }
}

/// Prints the first few client-level errors of the run to stderr.
pub fn client_error(who: &str, error: &KafkaError, reason: &str) {
    static SHOWN: AtomicU64 = AtomicU64::new(0);
    if SHOWN.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("bench: {who} client error: {error}: {reason}");
    }
}

/// A running producer.
pub struct ProducerWorker {
    pub recorder: Arc<Recorder>,
    thread: JoinHandle<()>,
}

impl ProducerWorker {
    /// Starts producer `index` of the plan; its schedule starts at `t0` / `t0_us` (same instant on
    /// the monotonic and the wall clock) and ends at `end` (if any).
    pub fn start(
        plan: &Plan,
        index: usize,
        shared: Arc<SendShared>,
        t0: Instant,
        t0_us: u64,
        end: Option<Instant>,
    ) -> anyhow::Result<ProducerWorker> {
        let recorder = Recorder::new();
        let context = AckContext {
            recorder: recorder.clone(),
            shared: shared.clone(),
        };
        let config = plan.producer_config(index)?;
        let producer: ThreadedProducer<AckContext> =
            ThreadedProducer::from_config_and_context(&config, context)
                .context("creating producer")?;
        if plan.transactional.is_some() {
            producer
                .init_transactions(Duration::from_secs(30))
                .context("initialising the transactional producer")?;
        }
        let per_producer_rate = plan.rate.map(|r| r / plan.producers as f64);
        let mut gen = PayloadGen::new(plan.sizes, plan.keys, 0x5eed + index as u64);
        let topic = plan.topic.clone();
        let records_limit = plan.records;
        let per_txn = plan.transactional;
        // Producers start their schedules staggered within one interval.
        let phase = index as f64 / plan.producers as f64;
        let recorder_for_thread = recorder.clone();
        let thread = std::thread::Builder::new()
            .name(format!("bench-producer-{index}"))
            .spawn(move || {
                let spec = SendSpec {
                    topic,
                    rate: per_producer_rate,
                    phase,
                    t0,
                    t0_us,
                    end,
                    records_limit,
                    per_txn,
                };
                send_loop(&producer, &mut gen, &spec, &shared, &recorder_for_thread);
                // Wait for outstanding deliveries; whatever is left after this counts as failed.
                if let Err(e) = producer.flush(Duration::from_secs(35)) {
                    let left = producer.in_flight_count();
                    recorder_for_thread
                        .error(|| format!("flush: {e} ({left} records undelivered)"));
                }
            })
            .context("starting producer thread")?;
        Ok(ProducerWorker { recorder, thread })
    }

    /// Whether the sender finished and every record was acknowledged or failed.
    pub fn finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits until the sender finished and everything was acknowledged (or failed).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

struct SendSpec {
    topic: String,
    rate: Option<f64>,
    phase: f64,
    t0: Instant,
    t0_us: u64,
    end: Option<Instant>,
    records_limit: Option<u64>,
    /// Records per transaction, if transactional.
    per_txn: Option<u64>,
}

/// The transaction of a transactional sender: begun lazily, committed every `per_txn` records
/// and at the end (a commit waits for every record of the transaction to be acknowledged).
struct TxnCycle {
    per_txn: u64,
    in_txn: u64,
}

impl TxnCycle {
    fn before_send(
        &mut self,
        producer: &ThreadedProducer<AckContext>,
        recorder: &Recorder,
    ) -> bool {
        if self.in_txn == 0 {
            if let Err(e) = producer.begin_transaction() {
                recorder.error(|| format!("begin_transaction: {e}"));
                return false;
            }
        }
        true
    }

    fn after_send(&mut self, producer: &ThreadedProducer<AckContext>, recorder: &Recorder) {
        self.in_txn += 1;
        if self.in_txn >= self.per_txn {
            self.finish(producer, recorder);
        }
    }

    fn finish(&mut self, producer: &ThreadedProducer<AckContext>, recorder: &Recorder) {
        if self.in_txn > 0 {
            // The rdkafka crate's commit flushes first, and its flush polls for up to 100 ms when
            // something is still in flight (the poll thread takes the delivery events): wait for
            // the acknowledgements here so the commit measures the broker, not that sleep.
            let deadline = Instant::now() + Duration::from_secs(30);
            while producer.in_flight_count() > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(100));
            }
            if let Err(e) = producer.commit_transaction(Duration::from_secs(30)) {
                recorder.error(|| format!("commit_transaction: {e}"));
            }
            self.in_txn = 0;
        }
    }
}

/// Sends records at their intended times (or as fast as accepted without a rate) until the end
/// time, the record limit or `stop`.
fn send_loop(
    producer: &ThreadedProducer<AckContext>,
    gen: &mut PayloadGen,
    spec: &SendSpec,
    shared: &SendShared,
    recorder: &Recorder,
) {
    let mut i: u64 = 0;
    let mut txn = spec.per_txn.map(|per_txn| TxnCycle { per_txn, in_txn: 0 });
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let intended = match spec.rate {
            Some(r) => spec.t0 + Duration::from_secs_f64((i as f64 + spec.phase) / r),
            None => now,
        };
        if matches!(spec.end, Some(end) if intended >= end) {
            break;
        }
        if intended > now {
            // Sleep when the next send is far enough away; otherwise fall through and send the
            // burst of records that are due.
            let wait = intended - now;
            if wait > Duration::from_micros(100) {
                std::thread::sleep(wait.min(Duration::from_millis(50)));
                continue;
            }
        }
        let intended_us =
            spec.t0_us + intended.saturating_duration_since(spec.t0).as_micros() as u64;
        if let Some(limit) = spec.records_limit {
            if shared.window.contains(intended_us)
                && shared.window_sent.fetch_add(1, Ordering::Relaxed) >= limit
            {
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        if let Some(t) = txn.as_mut() {
            if !t.before_send(producer, recorder) {
                break;
            }
        }
        let (key, value) = gen.next(intended_us);
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&spec.topic).payload(value);
        if let Some(k) = key {
            record = record.key(k);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The client's queue is full: wait for deliveries. The intended time stays,
                    // so the wait shows up as latency.
                    record = back;
                    if shared.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err((e, _)) => {
                    recorder.error(|| format!("send: {e}"));
                    break;
                }
            }
        }
        if let Some(t) = txn.as_mut() {
            t.after_send(producer, recorder);
        }
        i += 1;
    }
    if let Some(t) = txn.as_mut() {
        t.finish(producer, recorder);
    }
}
