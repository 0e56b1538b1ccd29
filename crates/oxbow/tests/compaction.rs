//! Log compaction with real clients: the cleaner keeps the latest record per key at its original
//! offset, removes tombstones after delete.retention.ms, and compact,delete also applies retention.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

/// (offset, key, value; None = tombstone) as consumed.
type Rec = (i64, String, Option<String>);

fn compacting_broker() -> TestBroker {
    TestBroker::builder()
        .with_env("OXBOW_LOG_CLEANER_BACKOFF_MS", "100")
        .with_env("OXBOW_STORAGE_RETENTION_CHECK_INTERVAL_MS", "300")
        .with_env("OXBOW_LOG_FILE_DELETE_DELAY_MS", "0")
        .start()
}

/// Produces (key, value) pairs to partition 0; returns each key's latest (offset, value).
async fn produce(
    broker: &TestBroker,
    topic: &str,
    records: &[(String, Option<String>)],
) -> BTreeMap<String, (i64, Option<String>)> {
    let producer = broker.producer(&[
        ("acks", "all"),
        ("linger.ms", "5"),
        ("compression.type", "lz4"),
    ]);
    let mut latest = BTreeMap::new();
    for chunk in records.chunks(5_000) {
        let futs: Vec<_> = chunk
            .iter()
            .map(|(k, v)| {
                let mut r = FutureRecord::to(topic).partition(0).key(k);
                if let Some(v) = v {
                    r = r.payload(v);
                }
                producer.send(r, Duration::from_secs(30))
            })
            .collect();
        for (res, (k, v)) in futures::future::join_all(futs).await.into_iter().zip(chunk) {
            let delivery =
                res.unwrap_or_else(|(e, _)| panic!("produce: {e}; log:\n{}", broker.log_tail(40)));
            latest.insert(k.clone(), (delivery.offset, v.clone()));
        }
    }
    latest
}

/// Reads partition 0 from its log start to its end with a fresh consumer.
fn read_all(broker: &TestBroker, topic: &str) -> Vec<Rec> {
    let consumer: BaseConsumer = broker.base_consumer(&[
        ("enable.partition.eof", "true"),
        ("fetch.wait.max.ms", "50"),
    ]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + OP_TIMEOUT;
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let key = m
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                let value = m.payload().map(|v| String::from_utf8_lossy(v).into_owned());
                out.push((m.offset(), key, value));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => panic!("consume: {e}; log:\n{}", broker.log_tail(40)),
            None => {}
        }
    }
    out
}

/// Polls `read_all` until `done` holds (panics with the last read after `timeout`).
async fn wait_for_read(
    broker: &TestBroker,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Rec]) -> bool,
) -> Vec<Rec> {
    let deadline = Instant::now() + timeout;
    loop {
        let recs = read_all(broker, topic);
        if done(&recs) {
            return recs;
        }
        assert!(
            Instant::now() < deadline,
            "condition not reached; read {} records; log:\n{}",
            recs.len(),
            broker.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn given_100k_records_over_1k_keys_when_compacted_should_read_latest_per_key_at_original_offsets(
) {
    let broker = compacting_broker();
    let topic = unique_topic("compact");
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "262144"),
        ("segment.ms", "1500"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ];
    broker.create_topic(&topic, 1, &configs).await;
    let records: Vec<(String, Option<String>)> = (0..100_000)
        .map(|j| (format!("key{}", j % 1_000), Some(format!("value-{j}"))))
        .collect();
    let latest = produce(&broker, &topic, &records).await;
    assert_eq!(latest.len(), 1_000);
    let (_, high) = broker.watermarks(&topic, 0);
    assert_eq!(high, 100_000);

    let after = wait_for_read(&broker, &topic, Duration::from_secs(60), |r| {
        r.len() == 1_000
    })
    .await;
    for (offset, key, value) in &after {
        assert_eq!(
            latest.get(key),
            Some(&(*offset, value.clone())),
            "key {key}"
        );
    }
    assert_eq!(
        broker.watermarks(&topic, 0).1,
        100_000,
        "the log end does not move"
    );
}

#[tokio::test]
async fn given_tombstones_when_delete_retention_passes_should_vanish() {
    let broker = compacting_broker();
    let topic = unique_topic("tombstones");
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "16384"),
        ("segment.ms", "500"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("delete.retention.ms", "3000"),
    ];
    broker.create_topic(&topic, 1, &configs).await;
    let mut records: Vec<(String, Option<String>)> = (0..2_000)
        .map(|j| (format!("key{}", j % 100), Some(format!("value-{j}"))))
        .collect();
    records.extend((0..50).map(|k| (format!("key{k}"), None)));
    let produced_at = Instant::now();
    let latest = produce(&broker, &topic, &records).await;

    let compacted =
        wait_for_read(&broker, &topic, Duration::from_secs(30), |r| r.len() <= 100).await;
    if compacted.len() == 100 {
        assert_eq!(
            compacted.iter().filter(|r| r.2.is_none()).count(),
            50,
            "tombstones kept at first"
        );
    }
    let last = wait_for_read(&broker, &topic, Duration::from_secs(60), |r| r.len() == 50).await;
    assert!(
        produced_at.elapsed() >= Duration::from_millis(3_000),
        "tombstones vanished before delete.retention.ms"
    );
    for (offset, key, value) in &last {
        assert!(value.is_some(), "tombstone of {key} remained");
        assert_eq!(latest.get(key), Some(&(*offset, value.clone())));
    }
}

#[tokio::test]
async fn given_compact_delete_topic_when_retention_passes_should_also_delete_old_segments() {
    let broker = compacting_broker();
    let topic = unique_topic("compact-delete");
    let configs = [
        ("cleanup.policy", "compact,delete"),
        ("segment.bytes", "16384"),
        ("segment.ms", "500"),
        ("retention.ms", "2000"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ];
    broker.create_topic(&topic, 1, &configs).await;
    let records: Vec<(String, Option<String>)> = (0..3_000)
        .map(|j| (format!("key{}", j % 10), Some(format!("value-{j}"))))
        .collect();
    produce(&broker, &topic, &records).await;
    let emptied = wait_until(Duration::from_secs(60), || {
        let (low, high) = broker.watermarks(&topic, 0);
        low == high && high == 3_000
    })
    .await;
    assert!(
        emptied,
        "retention did not delete the compacted topic's old segments; log:\n{}",
        broker.log_tail(30)
    );
}
