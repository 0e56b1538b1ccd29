//! Rebalance benchmark: how long a group of 3 members on a 60-partition topic takes to be fully
//! consuming again after a 4th member joins, and after it leaves, for the classic eager protocol
//! (range), classic cooperative-sticky, and the KIP-848 consumer protocol.
//!
//! `cargo run --release -p oxbow --example rebalance [rounds]` (an in-process broker on loopback).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

const PARTITIONS: i32 = 60;

fn member(bootstrap: &str, group: &str, topic: &str, mode: &str) -> BaseConsumer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .set("broker.address.family", "v4");
    match mode {
        "consumer" => {
            c.set("group.protocol", "consumer");
        }
        strategy => {
            c.set("partition.assignment.strategy", strategy)
                .set("session.timeout.ms", "6000")
                .set("heartbeat.interval.ms", "200");
        }
    }
    let consumer: BaseConsumer = c.create().expect("create consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

fn owned(c: &BaseConsumer) -> BTreeSet<i32> {
    c.assignment()
        .map(|t| t.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// Polls until every partition is owned by exactly one member and the split is even.
fn settle(members: &[BaseConsumer], timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    let per = PARTITIONS as usize / members.len();
    while start.elapsed() < timeout {
        for m in members {
            let _ = m.poll(Duration::from_millis(5));
        }
        let sets: Vec<BTreeSet<i32>> = members.iter().map(owned).collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        if total == PARTITIONS as usize
            && union.len() == PARTITIONS as usize
            && sets.iter().all(|s| s.len() == per)
        {
            return Some(start.elapsed());
        }
    }
    None
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let tmp = tempfile::tempdir()?;
    let mut config = oxbow_config::BrokerConfig::default();
    config.storage.data_dir = tmp.path().join("data");
    config.server.listen = "127.0.0.1:0".into();
    config.group.initial_rebalance_delay_ms = 0;
    config.group.min_session_timeout_ms = 1000;
    config.group.consumer_heartbeat_interval_ms = 200;
    config.group.consumer_session_timeout_ms = 6000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let broker = oxbow_broker::Broker::open(config)?;
    let (bootstrap, server) = rt.block_on(async {
        let bound = oxbow_broker::bind(&broker).await?;
        let server = oxbow_broker::serve(broker.clone(), bound)?;
        let addr = server.local_addr;
        anyhow::Ok((addr.to_string(), server))
    })?;
    broker
        .metadata
        .create_topic("bench", PARTITIONS, 1, Default::default(), false)?;
    println!("3 members, {PARTITIONS} partitions; time until every partition is owned again (ms)");
    println!(
        "{:<20} {:>12} {:>12}",
        "protocol", "join (4th)", "leave (4th)"
    );
    for mode in ["range", "cooperative-sticky", "consumer"] {
        let (mut joins, mut leaves) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let group = format!("bench-{mode}-{round}");
            let mut members: Vec<BaseConsumer> = (0..3)
                .map(|_| member(&bootstrap, &group, "bench", mode))
                .collect();
            settle(&members, Duration::from_secs(60))
                .ok_or_else(|| anyhow::anyhow!("{mode}: initial group never settled"))?;
            members.push(member(&bootstrap, &group, "bench", mode));
            let join = settle(&members, Duration::from_secs(60))
                .ok_or_else(|| anyhow::anyhow!("{mode}: join never settled"))?;
            let leaving = members.pop();
            drop(leaving);
            let leave = settle(&members, Duration::from_secs(60))
                .ok_or_else(|| anyhow::anyhow!("{mode}: leave never settled"))?;
            joins.push(join.as_millis());
            leaves.push(leave.as_millis());
        }
        joins.sort_unstable();
        leaves.sort_unstable();
        println!(
            "{:<20} {:>12} {:>12}   (median of {rounds}; all joins {joins:?}, leaves {leaves:?})",
            mode,
            joins[rounds / 2],
            leaves[rounds / 2]
        );
    }
    rt.block_on(server.shutdown());
    Ok(())
}
