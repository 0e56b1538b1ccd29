//! Helpers for the scale and restart measurements of `bench/run.sh`:
//! - `oxbow bench partitions`: creates `--topics` topics of `--partitions` partitions each and
//!   writes one small record into every partition (so every log has a segment holding data);
//! - `oxbow bench ready`: polls until the broker accepts a connection and answers a Metadata
//!   request (all topics) listing at least `--expect-partitions` partitions; prints how long that
//!   took (the script starts it right after starting the broker);
//! - `oxbow bench connections`: opens `--count` plain TCP connections, sends one ApiVersions on
//!   each, holds them idle and reports the broker's resident memory before, while held and after
//!   closing (`--broker-pid`), i.e. the memory cost of an idle connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use serde_json::{json, Value};

use super::options::parse_duration;
use super::procstat::status_kb;
use super::stats::round;
use super::BenchArgs;
use crate::cli::common::admin_options;
use crate::cli::kafka_raw::RawClient;

/// Connections being opened at once by `connections` (below the listen backlog).
const CONNECT_PARALLELISM: usize = 200;
/// Topics per CreateTopics request in `partitions`.
const TOPICS_PER_CREATE: usize = 10;

fn finish(args: &BenchArgs, out: &Value, human: impl FnOnce()) {
    if args.json {
        println!("{out}");
    } else {
        human();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

// ---- partitions ----

#[derive(Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
}

struct CountContext(Arc<Deliveries>);

impl ClientContext for CountContext {}

impl ProducerContext for CountContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.0.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

pub fn partitions(args: &BenchArgs) -> anyhow::Result<()> {
    let topics = args.topics.unwrap_or(100).max(1);
    let per_topic = args.partitions.unwrap_or(100).max(1);
    let prefix = args
        .topic
        .clone()
        .unwrap_or_else(|| "oxbow-bench-p".to_string());
    let size = args.record_size.unwrap_or(100).max(1);
    let names: Vec<String> = (0..topics).map(|i| format!("{prefix}-{i:04}")).collect();

    let t0 = Instant::now();
    let admin = args.conn.admin()?;
    let rt = runtime()?;
    for chunk in names.chunks(TOPICS_PER_CREATE) {
        let new: Vec<NewTopic<'_>> = chunk
            .iter()
            .map(|n| NewTopic::new(n, per_topic, TopicReplication::Fixed(-1)))
            .collect();
        let results = rt
            .block_on(admin.create_topics(&new, &admin_options()))
            .context("CreateTopics")?;
        for r in results {
            if let Err((name, code)) = r {
                if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                    bail!("cannot create topic {name}: {code}");
                }
            }
        }
        if !args.quiet {
            eprintln!(
                "bench partitions: created up to {} ({:.1} s)",
                chunk[chunk.len() - 1],
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let create_s = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let counts = Arc::new(Deliveries::default());
    let config = args.conn.client_config(&[
        ("acks", "1".to_string()),
        ("linger.ms", "50".to_string()),
        ("message.timeout.ms", "60000".to_string()),
        ("queue.buffering.max.messages", "1000000".to_string()),
    ])?;
    let producer: ThreadedProducer<CountContext> =
        ThreadedProducer::from_config_and_context(&config, CountContext(counts.clone()))
            .context("creating producer")?;
    let value = vec![b'x'; size];
    for name in &names {
        for p in 0..per_topic {
            let mut record: BaseRecord<'_, [u8], [u8]> =
                BaseRecord::to(name).partition(p).payload(&value[..]);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        back,
                    )) => {
                        record = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((e, _)) => bail!("send to {name}/{p}: {e}"),
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(90))
        .context("flushing the records")?;
    let produce_s = t1.elapsed().as_secs_f64();
    let (ok, failed) = (
        counts.ok.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    let out = json!({
        "topics": topics,
        "partitions_per_topic": per_topic,
        "partitions": topics as u64 * per_topic as u64,
        "record_size": size,
        "create_s": round(create_s, 3),
        "produce_s": round(produce_s, 3),
        "records_delivered": ok,
        "records_failed": failed,
    });
    finish(args, &out, || {
        println!(
            "created {topics} topics x {per_topic} partitions in {create_s:.1} s; one {size} B record each: \
             {ok} delivered, {failed} failed in {produce_s:.1} s"
        );
    });
    if failed > 0 {
        bail!("{failed} records were not delivered");
    }
    Ok(())
}

// ---- ready ----

pub fn ready(args: &BenchArgs) -> anyhow::Result<()> {
    let timeout = match &args.timeout {
        Some(s) => parse_duration(s)?,
        None => Duration::from_secs(120),
    };
    let expect = args.expect_partitions.unwrap_or(0);
    let start = Instant::now();
    let rt = runtime()?;
    let mut attempts = 0u64;
    let mut first_connect_ms: Option<f64> = None;
    loop {
        attempts += 1;
        let probe = async {
            let mut c = RawClient::connect(&args.conn.bootstrap).await?;
            let connected = start.elapsed();
            let resp = c
                .send(12, &MetadataRequest::default().with_topics(None))
                .await?;
            anyhow::Ok((connected, resp))
        };
        let last_error = match rt.block_on(probe) {
            Ok((connected, resp)) => {
                first_connect_ms.get_or_insert(connected.as_secs_f64() * 1e3);
                let topics = resp
                    .topics
                    .iter()
                    .filter(|t| t.error_code == 0 && !t.is_internal)
                    .count();
                let partitions: usize = resp
                    .topics
                    .iter()
                    .filter(|t| t.error_code == 0 && !t.is_internal)
                    .map(|t| t.partitions.len())
                    .sum();
                if partitions >= expect {
                    let ready_ms = start.elapsed().as_secs_f64() * 1e3;
                    let out = json!({
                        "ready_ms": round(ready_ms, 1),
                        "first_connect_ms": first_connect_ms.map(|m| round(m, 1)),
                        "attempts": attempts,
                        "topics": topics,
                        "partitions": partitions,
                    });
                    finish(args, &out, || {
                        println!("serving after {ready_ms:.0} ms ({attempts} attempts): {topics} topics, {partitions} partitions");
                    });
                    return Ok(());
                }
                format!("metadata lists {partitions} partitions, expecting {expect}")
            }
            Err(e) => format!("{e:#}"),
        };
        if start.elapsed() > timeout {
            bail!(
                "broker not serving after {:.0} s ({attempts} attempts): {last_error}",
                timeout.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---- connections ----

fn rss_kb(pid: Option<u32>) -> Option<u64> {
    pid.and_then(|p| status_kb(p, "VmRSS:"))
}

fn fd_count(pid: Option<u32>) -> Option<usize> {
    pid.and_then(|p| std::fs::read_dir(format!("/proc/{p}/fd")).ok())
        .map(|d| d.count())
}

async fn open_one(bootstrap: String) -> anyhow::Result<RawClient> {
    let mut c = RawClient::connect(&bootstrap).await?;
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("oxbow-bench"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let resp = c.send(3, &req).await?;
    if resp.error_code != 0 {
        bail!("ApiVersions error code {}", resp.error_code);
    }
    Ok(c)
}

pub fn connections(args: &BenchArgs) -> anyhow::Result<()> {
    let count = args.count.unwrap_or(5000);
    let hold = match &args.hold {
        Some(s) => parse_duration(s)?,
        None => Duration::from_secs(5),
    };
    let pid = args.broker_pid;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;

    let rss_before = rss_kb(pid);
    let fds_before = fd_count(pid);
    let t0 = Instant::now();
    let bootstrap = args.conn.bootstrap.clone();
    let quiet = args.quiet;
    let (mut clients, failed, first_error) = rt.block_on(async move {
        let mut clients = Vec::with_capacity(count);
        let mut failed = 0usize;
        let mut first_error: Option<String> = None;
        let mut pending = tokio::task::JoinSet::new();
        let mut started = 0usize;
        let mut shown = 0usize;
        while started < count || !pending.is_empty() {
            while started < count && pending.len() < CONNECT_PARALLELISM {
                pending.spawn(open_one(bootstrap.clone()));
                started += 1;
            }
            match pending.join_next().await {
                Some(Ok(Ok(c))) => clients.push(c),
                Some(Ok(Err(e))) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| format!("{e:#}"));
                }
                Some(Err(e)) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
                None => {}
            }
            if !quiet && clients.len() >= shown + 1000 {
                shown = clients.len();
                eprintln!("bench connections: {shown} open");
            }
        }
        (clients, failed, first_error)
    });
    let open_s = t0.elapsed().as_secs_f64();
    let opened = clients.len();
    if !args.quiet {
        eprintln!(
            "bench connections: {opened} open, {failed} failed in {open_s:.1} s; holding {} s",
            hold.as_secs_f64()
        );
    }
    // Let the broker settle (per-request buffers freed), then read its memory while they are idle.
    std::thread::sleep(hold);
    let rss_held = rss_kb(pid);
    let fds_held = fd_count(pid);

    // Are they still served? One more ApiVersions on each.
    let alive = rt.block_on(async {
        let mut alive = 0usize;
        for chunk in clients.chunks_mut(CONNECT_PARALLELISM) {
            let results = futures::future::join_all(chunk.iter_mut().map(|c| async move {
                let req = ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str("oxbow-bench"))
                    .with_client_software_version(StrBytes::from_static_str("1"));
                c.send(3, &req).await.is_ok()
            }))
            .await;
            alive += results.into_iter().filter(|ok| *ok).count();
        }
        alive
    });
    drop(clients);
    drop(rt);
    std::thread::sleep(Duration::from_secs(2));
    let rss_closed = rss_kb(pid);

    let per_conn_kb = match (rss_before, rss_held) {
        (Some(b), Some(h)) if opened > 0 => Some(round((h as f64 - b as f64) / opened as f64, 2)),
        _ => None,
    };
    let mb = |kb: Option<u64>| kb.map(|k| round(k as f64 / 1024.0, 1));
    let out = json!({
        "count": count,
        "opened": opened,
        "failed": failed,
        "first_error": first_error,
        "open_s": round(open_s, 3),
        "hold_s": hold.as_secs_f64(),
        "alive_after_hold": alive,
        "broker_rss_before_mb": mb(rss_before),
        "broker_rss_held_mb": mb(rss_held),
        "broker_rss_after_close_mb": mb(rss_closed),
        "broker_fds_before": fds_before,
        "broker_fds_held": fds_held,
        "rss_per_connection_kb": per_conn_kb,
    });
    finish(args, &out, || {
        println!("{opened} of {count} connections opened in {open_s:.1} s ({failed} failed), {alive} still answering after {} s idle", hold.as_secs_f64());
        if let Some(e) = &first_error {
            println!("first error: {e}");
        }
        if let (Some(b), Some(h)) = (rss_before, rss_held) {
            println!(
                "broker RSS {:.1} MB before, {:.1} MB with them open, {} MB after closing: {} KB per idle connection",
                b as f64 / 1024.0,
                h as f64 / 1024.0,
                rss_closed.map_or("-".into(), |c| format!("{:.1}", c as f64 / 1024.0)),
                per_conn_kb.map_or("-".into(), |k| format!("{k:.1}")),
            );
        }
    });
    if opened == 0 {
        bail!(
            "no connection could be opened: {}",
            first_error.unwrap_or_default()
        );
    }
    Ok(())
}
