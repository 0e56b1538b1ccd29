//! Crash safety: acknowledged records survive SIGKILL; a torn or garbage segment tail is cut back
//! to the last whole batch on restart and the log stays writable.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::producer::FutureRecord;
use rdkafka::Message;

const RECORDS: usize = 100_000;

#[tokio::test]
async fn given_100k_acknowledged_records_when_broker_is_killed_should_keep_every_record_exactly_once(
) {
    let mut broker = TestBroker::start();
    let topic = unique_topic("durable");
    broker.create_topic(&topic, 2, &[]).await;
    let producer = broker.producer(&[
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("linger.ms", "10"),
        ("batch.size", "1000000"),
        ("batch.num.messages", "10000"),
        ("queue.buffering.max.messages", "200000"),
        ("compression.type", "lz4"),
    ]);
    let started = Instant::now();
    let mut pending = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let payload = format!("record-{i:08}-payload-of-some-length");
        let key = format!("k{}", i % 64);
        pending.push(
            enqueue(
                &producer,
                FutureRecord::to(&topic).key(&key).payload(&payload),
            )
            .await,
        );
    }
    for (i, f) in pending.into_iter().enumerate() {
        match f.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => panic!(
                "record {i} not acknowledged: {e}; log:\n{}",
                broker.log_tail(40)
            ),
            Err(_) => panic!("record {i}: delivery canceled"),
        }
    }
    eprintln!(
        "produced {RECORDS} acknowledged records in {:?}",
        started.elapsed()
    );
    drop(producer);

    broker.kill9();
    broker.restart();

    let (lo0, hi0) = broker.watermarks(&topic, 0);
    let (lo1, hi1) = broker.watermarks(&topic, 1);
    assert_eq!((lo0, lo1), (0, 0));
    assert_eq!(
        (hi0 + hi1) as usize,
        RECORDS,
        "high watermarks after restart: {hi0} + {hi1}"
    );

    let msgs = broker
        .consume_n(&topic, &[0, 1], RECORDS, Duration::from_secs(60))
        .await;
    assert_eq!(msgs.len(), RECORDS);
    let mut seen = vec![false; RECORDS];
    for m in &msgs {
        let v = value(m);
        let i: usize = v
            .strip_prefix("record-")
            .and_then(|r| r.get(..8))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected value {v:?}"));
        assert!(!seen[i], "record {i} twice");
        seen[i] = true;
        assert_eq!(key(m), Some(format!("k{}", i % 64)));
    }
    assert!(seen.iter().all(|s| *s), "every acknowledged record present");
    eprintln!("verified after restart in {:?}", started.elapsed());
}

/// Produces `n` records one at a time (each its own batch) to partition 0, values `v0..`.
async fn produce_one_by_one(broker: &TestBroker, topic: &str, from: usize, n: usize) {
    let producer = broker.producer(&[("acks", "all"), ("linger.ms", "0")]);
    for i in from..from + n {
        let d = producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(0)
                    .payload(&format!("v{i}")),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce v{i}: {e}; log:\n{}", broker.log_tail(40)));
        assert_eq!(d.offset, i as i64, "offset of v{i}");
    }
}

async fn assert_prefix(broker: &TestBroker, topic: &str, n: usize) {
    assert_eq!(broker.watermarks(topic, 0), (0, n as i64), "watermarks");
    let msgs = broker
        .consume_n(topic, &[0], n, Duration::from_secs(20))
        .await;
    let got: Vec<String> = msgs.iter().map(value).collect();
    let want: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    assert_eq!(got, want);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.offset(), i as i64);
    }
}

#[tokio::test]
async fn given_garbage_after_last_batch_when_restarting_should_drop_it_and_keep_good_records() {
    let mut broker = TestBroker::start();
    let topic = unique_topic("garbage");
    broker.create_topic(&topic, 1, &[]).await;
    produce_one_by_one(&broker, &topic, 0, 200).await;
    broker.kill9();

    let seg = last_segment(&broker.data_dir().join(format!("{topic}-0")));
    let mut f = OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open segment");
    // Something that looks like the start of a batch header (base offset 200, length 1000) followed
    // by junk, as a crash in the middle of a write could leave.
    let mut junk = Vec::new();
    junk.extend_from_slice(&200i64.to_be_bytes());
    junk.extend_from_slice(&1000i32.to_be_bytes());
    junk.extend_from_slice(&[0xAB; 61]);
    f.write_all(&junk).expect("append garbage");
    f.sync_all().expect("sync");
    drop(f);

    broker.restart();
    assert_eq!(broker.watermarks(&topic, 0), (0, 200));
    assert_prefix(&broker, &topic, 200).await;
    produce_one_by_one(&broker, &topic, 200, 5).await;
    assert_prefix(&broker, &topic, 205).await;

    // And the repaired log is stable across another crash.
    broker.kill9();
    broker.restart();
    assert_prefix(&broker, &topic, 205).await;
}

#[tokio::test]
async fn given_torn_last_batch_when_restarting_should_truncate_to_previous_batch() {
    let mut broker = TestBroker::start();
    let topic = unique_topic("torn");
    broker.create_topic(&topic, 1, &[]).await;
    produce_one_by_one(&broker, &topic, 0, 200).await;
    broker.kill9();

    let seg = last_segment(&broker.data_dir().join(format!("{topic}-0")));
    let len = std::fs::metadata(&seg).expect("segment metadata").len();
    assert!(len > 20, "segment has data");
    let f = OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open segment");
    f.set_len(len - 7).expect("cut the tail");
    f.sync_all().expect("sync");
    drop(f);

    broker.restart();
    // The last record was alone in its batch, so exactly it is lost.
    assert_eq!(broker.watermarks(&topic, 0), (0, 199));
    assert_prefix(&broker, &topic, 199).await;
    // New records continue right after the good prefix.
    produce_one_by_one(&broker, &topic, 199, 5).await;
    assert_prefix(&broker, &topic, 204).await;
}

#[tokio::test]
async fn given_clean_shutdown_when_restarting_should_keep_everything() {
    let mut broker = TestBroker::start();
    let topic = unique_topic("clean");
    broker.create_topic(&topic, 1, &[]).await;
    produce_one_by_one(&broker, &topic, 0, 20).await;
    let status = broker.stop();
    assert!(status.success(), "SIGTERM exits cleanly: {status}");
    broker.restart();
    assert_prefix(&broker, &topic, 20).await;
    produce_one_by_one(&broker, &topic, 20, 3).await;
    assert_prefix(&broker, &topic, 23).await;
}
