//! Orchestration of a workload run: topic, readers (ready before anything is sent), producers on
//! their schedule, a progress line each second, the drain at the end, and the report.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Offset;

use super::consume::{ConsumerWorker, ReadShared};
use super::options::Plan;
use super::payload::now_us;
use super::procstat::{BrokerProbe, CpuSample};
use super::produce::{ProducerWorker, SendShared};
use super::report::{print_progress, Report};
use super::stats::{Totals, Window};
use super::{StartAt, Workload};
use crate::cli::common::{admin_options, topic_partitions, DEFAULT_TIMEOUT};

/// How long readers may take to be assigned every partition.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long readers may take, once producers are done, to receive everything acknowledged.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

pub fn run(plan: Plan) -> anyhow::Result<()> {
    let partitions = ensure_topic(&plan)?;
    let slots = partitions.iter().copied().max().unwrap_or(0).max(0) as usize + 1;
    let mut probe = plan.broker_pid.map(BrokerProbe::new).transpose()?;
    let window = Window::new();
    let run_id = format!("{:x}", now_us());
    let measure_latency = plan.workload != Workload::Consume;

    // Readers first, positioned before anything is sent.
    let read = ReadShared::new(window.clone(), plan.groups, slots, measure_latency);
    let watermarks = if plan.groups > 0 {
        watermarks(&plan, &partitions)?
    } else {
        Vec::new()
    };
    let start_list: Vec<(i32, Offset)> = watermarks
        .iter()
        .map(|&(p, _, hi)| match plan.from {
            StartAt::Beginning => (p, Offset::Beginning),
            StartAt::End => (p, Offset::Offset(hi)),
        })
        .collect();
    let mut readers = Vec::new();
    for g in 0..plan.groups {
        for c in 0..plan.consumers_per_group {
            let assign = plan.assign.then_some(&start_list[..]);
            readers.push(ConsumerWorker::start(
                &plan,
                &run_id,
                g,
                c,
                assign,
                read.clone(),
            )?);
        }
    }
    if !readers.is_empty() {
        wait_ready(&plan, &readers, partitions.len(), &read)?;
    }

    // SAFETY: installs a handler that only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }

    let t0 = Instant::now();
    let t0_us = now_us();
    let ws = t0 + plan.warmup;
    let ws_us = t0_us + plan.warmup.as_micros() as u64;
    let we = plan.duration.map(|d| ws + d);
    window.set(
        ws_us,
        plan.duration
            .map_or(u64::MAX, |d| ws_us + d.as_micros() as u64),
    );

    let send = SendShared::new(window.clone(), slots);
    let mut producers = Vec::new();
    for i in 0..plan.producers {
        producers.push(ProducerWorker::start(
            &plan,
            i,
            send.clone(),
            t0,
            t0_us,
            we,
        )?);
    }
    let mut prod = Totals::new(producers.iter().map(|p| p.recorder.clone()).collect());
    let mut cons = Totals::new(readers.iter().map(|r| r.recorder.clone()).collect());
    // Consume-only runs end when every group has read what the topic held at the start.
    let consume_targets: Vec<i64> = {
        let mut t = vec![-1i64; slots];
        for &(p, lo, hi) in &watermarks {
            if hi > lo && plan.from == StartAt::Beginning {
                t[p as usize] = hi;
            }
        }
        t
    };

    let mut cpu_before: Option<CpuSample> = None;
    let mut next_tick = t0 + Duration::from_secs(1);
    let mut drain_deadline: Option<Instant> = None;
    let mut drain_targets: Vec<i64> = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if cpu_before.is_none() && now >= ws {
            cpu_before = probe.as_ref().and_then(|p| p.cpu().ok());
        }
        if INTERRUPTED.load(Ordering::Relaxed) {
            send.stop.store(true, Ordering::Relaxed);
        }
        if now >= next_tick {
            next_tick += Duration::from_secs(1);
            prod.collect();
            cons.collect();
            let rss = probe.as_mut().and_then(|p| p.sample_rss());
            if !plan.quiet {
                print_progress(now.duration_since(t0), now < ws, &prod, &cons, rss);
            }
        }
        // Is the run over?
        if plan.producers > 0 {
            if drain_deadline.is_none() && producers.iter().all(|p| p.finished()) {
                drain_deadline = Some(Instant::now() + DRAIN_TIMEOUT);
                drain_targets = send
                    .acked_end
                    .iter()
                    .map(|a| a.load(Ordering::Relaxed))
                    .collect();
            }
            if let Some(deadline) = drain_deadline {
                if readers.is_empty()
                    || read.reached(&drain_targets)
                    || now >= deadline
                    || INTERRUPTED.load(Ordering::Relaxed)
                {
                    break;
                }
            }
        } else {
            let limit_hit = plan
                .records
                .is_some_and(|n| read.window_received.load(Ordering::Relaxed) >= n);
            let time_up = we.is_some_and(|we| now >= we);
            if read.reached(&consume_targets)
                || limit_hit
                || time_up
                || INTERRUPTED.load(Ordering::Relaxed)
            {
                break;
            }
        }
    }
    let cpu_after = probe.as_ref().and_then(|p| p.cpu().ok());
    let drained = drain_deadline.is_none() || read.reached(&drain_targets);
    read.stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join();
    }
    for r in readers {
        r.join();
    }
    prod.collect();
    cons.collect();

    let broker = match (probe.as_mut(), cpu_before, cpu_after) {
        (Some(p), Some(b), Some(a)) => Some(p.report(b, a, prod.bytes, cons.bytes)),
        _ => None,
    };
    let report = Report {
        plan: &plan,
        partitions: partitions.len(),
        window_start_us: ws_us,
        producers: &prod,
        consumers: &cons,
        broker,
        drained,
        interrupted: INTERRUPTED.load(Ordering::Relaxed),
    };
    report.print();
    Ok(())
}

/// The topic's partition ids, creating the topic first if it does not exist.
fn ensure_topic(plan: &Plan) -> anyhow::Result<Vec<i32>> {
    let admin = plan.conn.admin()?;
    if let Ok(ids) = topic_partitions(admin.inner(), &plan.topic) {
        if ids.len() != plan.partitions as usize && !plan.quiet {
            eprintln!(
                "bench: topic {} exists with {} partitions; using it as is",
                plan.topic,
                ids.len()
            );
        }
        return Ok(ids);
    }
    if plan.workload == Workload::Consume {
        bail!(
            "topic {} does not exist: nothing to consume (produce to it first)",
            plan.topic
        );
    }
    let mut topic = NewTopic::new(&plan.topic, plan.partitions, TopicReplication::Fixed(-1));
    for (k, v) in &plan.topic_configs {
        topic = topic.set(k, v);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = rt
        .block_on(admin.create_topics([&topic], &admin_options()))
        .context("CreateTopics")?;
    for r in results {
        if let Err((name, code)) = r {
            if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                bail!("cannot create topic {name}: {code}");
            }
        }
    }
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    loop {
        match topic_partitions(admin.inner(), &plan.topic) {
            Ok(ids) if ids.len() >= plan.partitions as usize => return Ok(ids),
            Ok(_) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Ok(ids) => return Ok(ids),
            Err(e) => return Err(e),
        }
    }
}

/// (partition, low, high) watermarks.
fn watermarks(plan: &Plan, partitions: &[i32]) -> anyhow::Result<Vec<(i32, i64, i64)>> {
    let config = plan
        .conn
        .client_config(&[("group.id", "oxbow-bench-probe".to_string())])?;
    let consumer: BaseConsumer = config.create().context("creating consumer")?;
    partitions
        .iter()
        .map(|&p| {
            let (lo, hi) = consumer
                .fetch_watermarks(&plan.topic, p, DEFAULT_TIMEOUT)
                .with_context(|| format!("watermarks of {}/{p}", plan.topic))?;
            Ok((p, lo, hi))
        })
        .collect()
}

/// Waits until every group has all partitions assigned.
fn wait_ready(
    plan: &Plan,
    readers: &[ConsumerWorker],
    partitions: usize,
    read: &ReadShared,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut said = false;
    loop {
        let ready = (0..plan.groups).all(|g| {
            readers
                .iter()
                .filter(|r| r.group == g)
                .map(|r| r.assigned.load(Ordering::Relaxed))
                .sum::<usize>()
                >= partitions
        });
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            read.stop.store(true, Ordering::Relaxed);
            bail!(
                "consumer groups did not get all {partitions} partitions assigned within {}s \
                 (does the cluster serve consumer groups? --assign reads without them)",
                READY_TIMEOUT.as_secs()
            );
        }
        if !said && !plan.quiet && !plan.assign {
            eprintln!(
                "bench: waiting for {} consumer group(s) to be assigned partitions...",
                plan.groups
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
