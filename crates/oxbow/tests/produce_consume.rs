//! Idempotent produce with each compression codec, then consume back: every record exactly once,
//! in order per partition, keys and headers intact.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::Message;

const PARTITIONS: i32 = 3;
const RECORDS: usize = 3000;

fn expected_value(i: usize) -> String {
    if i % 500 == 7 {
        String::new()
    } else {
        format!("value-{i}-{}", "abc".repeat(i % 50))
    }
}

async fn round_trip(codec: &str) {
    let broker = TestBroker::start();
    let topic = unique_topic(&format!("codec-{codec}"));
    broker.create_topic(&topic, PARTITIONS, &[]).await;
    let producer = broker.producer(&[
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("compression.type", codec),
        ("linger.ms", "20"),
        ("batch.num.messages", "500"),
    ]);

    // Compressible values of varying size, plus a few edge cases: empty value, no key, no headers.
    let keys: Vec<String> = (0..RECORDS).map(|i| format!("key-{}", i % 17)).collect();
    let payloads: Vec<String> = (0..RECORDS).map(expected_value).collect();
    let mut futures = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let mut record = FutureRecord::to(&topic).payload(&payloads[i]);
        if i % 100 != 3 {
            record = record.key(&keys[i]);
        }
        if i % 10 != 5 {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "seq",
                    value: Some(&i.to_string()),
                })
                .insert(Header {
                    key: "codec",
                    value: Some(codec),
                })
                .insert(Header {
                    key: "null-header",
                    value: None::<&[u8]>,
                });
            record = record.headers(headers);
        }
        if i % 100 == 3 {
            record = record.partition((i % PARTITIONS as usize) as i32);
        }
        futures.push(producer.send(record, Duration::from_secs(30)));
    }
    let results = join_all(futures).await;
    let mut sent_to: HashMap<usize, (i32, i64)> = HashMap::new();
    for (i, r) in results.into_iter().enumerate() {
        let d = r.unwrap_or_else(|(e, _)| {
            panic!(
                "record {i} not delivered with {codec}: {e}; log:\n{}",
                broker.log_tail(40)
            )
        });
        sent_to.insert(i, (d.partition, d.offset));
    }

    // No duplicates written: the logs hold exactly RECORDS records.
    let total: i64 = (0..PARTITIONS)
        .map(|p| broker.watermarks(&topic, p))
        .map(|(lo, hi)| hi - lo)
        .sum();
    assert_eq!(total, RECORDS as i64, "records in the log");
    let msgs = broker
        .consume_n(
            &topic,
            &(0..PARTITIONS).collect::<Vec<_>>(),
            RECORDS,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        msgs.len(),
        RECORDS,
        "every record exactly once (no duplicates, none missing)"
    );

    let mut next_offset: HashMap<i32, i64> = HashMap::new();
    let mut last_seq: HashMap<i32, i64> = HashMap::new();
    let mut seen = vec![false; RECORDS];
    let mut seq_by_offset: HashMap<(i32, i64), usize> = HashMap::new();
    for (i, (p, o)) in &sent_to {
        seq_by_offset.insert((*p, *o), *i);
    }
    for m in &msgs {
        let p = m.partition();
        let expected_offset = next_offset.entry(p).or_insert(0);
        assert_eq!(
            m.offset(),
            *expected_offset,
            "offsets are dense and ascending in partition {p}"
        );
        *expected_offset += 1;
        let i = *seq_by_offset
            .get(&(p, m.offset()))
            .expect("offset was acknowledged to the producer");
        assert!(!seen[i], "record {i} seen twice");
        seen[i] = true;
        let prev = last_seq.insert(p, i as i64).unwrap_or(-1);
        assert!(i as i64 > prev, "records of partition {p} in send order");

        assert_eq!(value(m), expected_value(i));
        if i % 100 == 3 {
            assert_eq!(key(m), None);
        } else {
            assert_eq!(key(m), Some(format!("key-{}", i % 17)));
        }
        if i % 10 == 5 {
            assert!(
                m.headers().is_none() || header(m, "seq").is_none(),
                "record {i} had no headers"
            );
        } else {
            assert_eq!(header(m, "seq"), Some(i.to_string()));
            assert_eq!(header(m, "codec").as_deref(), Some(codec));
            use rdkafka::message::Headers;
            let hs = m.headers().expect("headers");
            assert_eq!(hs.count(), 3);
            let null = hs.get(2);
            assert_eq!(null.key, "null-header");
            assert!(null.value.is_none(), "null header value stays null");
        }
        assert!(
            m.timestamp().to_millis().is_some_and(|t| t > 0),
            "timestamp kept"
        );
    }
    assert!(seen.iter().all(|s| *s));

    // Same key, same partition (the default partitioner is deterministic; the broker must not move records).
    let mut partition_of_key: HashMap<String, i32> = HashMap::new();
    for m in &msgs {
        if let Some(k) = key(m) {
            let p = *partition_of_key.entry(k.clone()).or_insert(m.partition());
            assert_eq!(p, m.partition(), "key {k} in one partition");
        }
    }
}

#[tokio::test]
async fn given_lz4_idempotent_producer_when_consuming_should_get_every_record_once_in_order() {
    round_trip("lz4").await;
}

#[tokio::test]
async fn given_zstd_idempotent_producer_when_consuming_should_get_every_record_once_in_order() {
    round_trip("zstd").await;
}

#[tokio::test]
async fn given_gzip_idempotent_producer_when_consuming_should_get_every_record_once_in_order() {
    round_trip("gzip").await;
}

#[tokio::test]
async fn given_snappy_idempotent_producer_when_consuming_should_get_every_record_once_in_order() {
    round_trip("snappy").await;
}

#[tokio::test]
async fn given_uncompressed_producer_when_consuming_should_get_every_record_once_in_order() {
    round_trip("none").await;
}

#[tokio::test]
async fn given_records_when_consuming_from_an_offset_should_start_there() {
    let broker = TestBroker::start();
    let topic = unique_topic("from-offset");
    broker.create_topic(&topic, 1, &[]).await;
    let producer = broker.producer(&[("linger.ms", "5")]);
    let futs: Vec<_> = (0..50)
        .map(|i| {
            let v = format!("v{i}");
            let producer = &producer;
            let topic = &topic;
            async move {
                producer
                    .send(
                        FutureRecord::<(), _>::to(topic).partition(0).payload(&v),
                        Duration::from_secs(10),
                    )
                    .await
            }
        })
        .collect();
    for r in join_all(futs).await {
        r.expect("delivered");
    }
    let consumer = broker.consumer(&[]);
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(42))
        .unwrap();
    use rdkafka::consumer::Consumer;
    consumer.assign(&tpl).unwrap();
    for expect in 42..50 {
        let m = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .expect("record in time")
            .expect("record");
        assert_eq!(m.offset(), expect);
        assert_eq!(
            m.payload_view::<str>().unwrap().unwrap(),
            format!("v{expect}")
        );
    }
}
