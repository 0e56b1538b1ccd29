//! Produce latency and throughput on one topic while another is being compacted, with the cleaner's
//! I/O budget on (the default 50 MiB/s) and off (0 = unlimited).
//!
//! `cargo bench -p oxbow --bench compaction_io` (spawns the real binary, like the integration tests).
//! Scale with COMPACTION_BENCH_CHURN_RECORDS (default 150000 records of 1 KiB over 1000 keys) and
//! COMPACTION_BENCH_WINDOW_SECS (default 8).

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::admin::{AlterConfig, ResourceSpecifier};
use rdkafka::producer::FutureRecord;

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pseudo-random, incompressible-ish payload.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn fill_churn(broker: &TestBroker, topic: &str, n: u64) {
    let producer = broker.producer(&[
        ("acks", "1"),
        ("linger.ms", "10"),
        ("batch.size", "1000000"),
    ]);
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let values: Vec<(String, Vec<u8>)> = chunk
            .iter()
            .map(|j| (format!("key{}", j % 1000), payload(*j, 1024)))
            .collect();
        let futs: Vec<_> = values
            .iter()
            .map(|(k, v)| {
                producer.send(
                    FutureRecord::to(topic).partition(0).key(k).payload(v),
                    Duration::from_secs(60),
                )
            })
            .collect();
        for r in futures::future::join_all(futs).await {
            r.map_err(|(e, _)| e).expect("fill churn topic");
        }
    }
}

/// Closed loop with `inflight` outstanding acks=all sends of 1 KiB for `window`: (msgs/s, p50, p99, max).
async fn measure(
    broker: &TestBroker,
    topic: &str,
    window: Duration,
    inflight: usize,
) -> (f64, Duration, Duration, Duration) {
    let producer = broker.producer(&[("acks", "all"), ("linger.ms", "0")]);
    let value = payload(7, 1024);
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut pending = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    let send = |i: usize| {
        let p = producer.clone();
        let v = value.clone();
        async move {
            let t = Instant::now();
            let key = format!("k{i}");
            p.send(
                FutureRecord::to(topic).partition(0).key(&key).payload(&v),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("measured produce");
            t.elapsed()
        }
    };
    let mut i = 0;
    while i < inflight {
        pending.push(send(i));
        i += 1;
    }
    while let Some(lat) = pending.next().await {
        latencies.push(lat);
        if start.elapsed() < window {
            pending.push(send(i));
            i += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    (
        latencies.len() as f64 / secs,
        pct(0.5),
        pct(0.99),
        *latencies.last().unwrap_or(&Duration::ZERO),
    )
}

async fn run(label: &str, budget: &str, churn: u64, window: Duration) {
    let broker = TestBroker::builder()
        .with_env("OXBOW_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND", budget)
        .with_env("OXBOW_LOG_CLEANER_BACKOFF_MS", "200")
        .with_env("RUST_LOG", "warn,oxbow_storage::log_cleaner=info")
        .start();
    let churn_topic = unique_topic("churn");
    let hot = unique_topic("hot");
    broker
        .create_topic(
            &churn_topic,
            1,
            &[("segment.bytes", "8388608"), ("cleanup.policy", "delete")],
        )
        .await;
    broker.create_topic(&hot, 1, &[]).await;
    fill_churn(&broker, &churn_topic, churn).await;
    let baseline = measure(&broker, &hot, Duration::from_secs(3), 32).await;
    let admin = broker.admin();
    let spec = AlterConfig::new(ResourceSpecifier::Topic(&churn_topic))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "8388608")
        .set("segment.ms", "1000")
        .set("min.cleanable.dirty.ratio", "0.01");
    admin
        .alter_configs([&spec], &admin_opts())
        .await
        .expect("AlterConfigs");
    let started = Instant::now();
    let during = measure(&broker, &hot, window, 32).await;
    let cleaned = wait_until(Duration::from_secs(300), || {
        broker.log_tail(200).contains("cleaned log")
    })
    .await;
    let fmt = |(tput, p50, p99, max): (f64, Duration, Duration, Duration)| {
        format!(
            "{tput:>8.0} msg/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
            ms(p50),
            ms(p99),
            ms(max)
        )
    };
    println!("[{label}] baseline (no cleaning): {}", fmt(baseline));
    println!("[{label}] while compacting:       {}", fmt(during));
    println!(
        "[{label}] first cleaning finished: {cleaned} after {:.1} s; cleaner log: {}",
        started.elapsed().as_secs_f64(),
        broker
            .log_tail(200)
            .lines()
            .filter(|l| l.contains("cleaned log"))
            .take(1)
            .collect::<String>()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let churn = env_or("COMPACTION_BENCH_CHURN_RECORDS", 150_000);
    let window = Duration::from_secs(env_or("COMPACTION_BENCH_WINDOW_SECS", 8));
    println!("churn topic: {churn} records of 1 KiB over 1000 keys; measuring 1 KiB acks=all sends, 32 in flight");
    run("budget 50 MiB/s", "52428800", churn, window).await;
    run("budget off     ", "0", churn, window).await;
}
