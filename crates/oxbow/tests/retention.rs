//! Time- and size-based retention delete whole old segments and advance the log start offset.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::producer::FutureRecord;
use rdkafka::Message;

async fn produce_in_batches(broker: &TestBroker, topic: &str, batches: usize, per_batch: usize) {
    let producer = broker.producer(&[("acks", "all"), ("linger.ms", "5")]);
    let mut n = 0;
    for _ in 0..batches {
        let payloads: Vec<String> = (0..per_batch).map(|j| format!("{:0>200}", n + j)).collect();
        let futs: Vec<_> = payloads
            .iter()
            .map(|p| {
                producer.send(
                    FutureRecord::<(), _>::to(topic).partition(0).payload(p),
                    Duration::from_secs(10),
                )
            })
            .collect();
        for r in futures::future::join_all(futs).await {
            r.unwrap_or_else(|(e, _)| panic!("produce: {e}; log:\n{}", broker.log_tail(40)));
        }
        n += per_batch;
    }
}

fn broker_with_fast_retention() -> TestBroker {
    TestBroker::builder()
        .with_env("OXBOW_STORAGE_RETENTION_CHECK_INTERVAL_MS", "300")
        .with_env("OXBOW_LOG_FILE_DELETE_DELAY_MS", "0")
        .start()
}

#[tokio::test]
async fn given_small_segments_and_short_retention_when_time_passes_should_delete_old_segments() {
    let broker = broker_with_fast_retention();
    let topic = unique_topic("ret-time");
    broker
        .create_topic(
            &topic,
            1,
            &[("segment.bytes", "4096"), ("retention.ms", "1500")],
        )
        .await;
    produce_in_batches(&broker, &topic, 20, 10).await;
    let dir = broker.data_dir().join(format!("{topic}-0"));
    let (lo, hi) = broker.watermarks(&topic, 0);
    assert_eq!((lo, hi), (0, 200));
    let before = segment_count(&dir);
    assert!(
        before >= 5,
        "small segment.bytes rolls segments: {before} segment(s)"
    );

    let advanced = wait_until(Duration::from_secs(20), || {
        broker.watermarks(&topic, 0).0 > 0
    })
    .await;
    assert!(
        advanced,
        "log start offset never advanced; log:\n{}",
        broker.log_tail(40)
    );
    let gone = wait_until(Duration::from_secs(20), || segment_count(&dir) < before).await;
    assert!(
        gone,
        "old segment files still there ({} of {before})",
        segment_count(&dir)
    );

    let (lo, hi) = broker.watermarks(&topic, 0);
    assert!(lo > 0 && lo <= hi && hi == 200, "watermarks ({lo}, {hi})");
    // Reading from the beginning starts at the new log start.
    let msgs = broker
        .consume_n(&topic, &[0], 1, Duration::from_secs(10))
        .await;
    if let Some(m) = msgs.first() {
        assert!(
            m.offset() >= lo,
            "first readable offset {} >= log start {lo}",
            m.offset()
        );
    }
    // New records are still accepted at the end.
    produce_in_batches(&broker, &topic, 1, 1).await;
    assert_eq!(broker.watermarks(&topic, 0).1, 201);
}

#[tokio::test]
async fn given_retention_bytes_when_log_grows_should_keep_only_about_that_much() {
    let broker = broker_with_fast_retention();
    let topic = unique_topic("ret-bytes");
    broker
        .create_topic(
            &topic,
            1,
            &[
                ("segment.bytes", "4096"),
                ("retention.bytes", "8192"),
                ("retention.ms", "-1"),
            ],
        )
        .await;
    produce_in_batches(&broker, &topic, 30, 10).await;
    let dir = broker.data_dir().join(format!("{topic}-0"));
    // About 8 KiB of ~200-byte records are kept (plus at most the active segment): well under 150.
    let trimmed = wait_until(Duration::from_secs(20), || {
        let (lo, hi) = broker.watermarks(&topic, 0);
        lo > 0 && hi - lo < 150
    })
    .await;
    let (lo, hi) = broker.watermarks(&topic, 0);
    assert!(
        trimmed,
        "log not trimmed to retention.bytes: watermarks ({lo}, {hi}); log:\n{}",
        broker.log_tail(40)
    );
    assert_eq!(hi, 300);
    let trimmed = wait_until(Duration::from_secs(10), || segment_count(&dir) <= 6).await;
    assert!(trimmed, "{} segment files left", segment_count(&dir));
}
