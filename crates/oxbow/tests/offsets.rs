//! ListOffsets: earliest, latest and by timestamp (librdkafka's offsets_for_times).

mod common;

use std::time::Duration;

use common::*;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

const BASE_TS: i64 = 1_600_000_000_000;

#[tokio::test]
async fn given_records_with_timestamps_when_listing_offsets_by_time_should_find_first_at_or_after()
{
    let broker = TestBroker::start();
    let topic = unique_topic("bytime");
    // The records carry 2020 timestamps: keep them past the 7-day default retention.
    broker
        .create_topic(&topic, 2, &[("retention.ms", "-1")])
        .await;
    let producer = broker.producer(&[("linger.ms", "0")]);
    // Partition 0: ten records one second apart, each in its own batch (sent one at a time).
    for i in 0..10i64 {
        producer
            .send(
                FutureRecord::<(), _>::to(&topic)
                    .partition(0)
                    .payload(&format!("r{i}"))
                    .timestamp(BASE_TS + i * 1000),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
    // Partition 1: ten records in one batch.
    let payloads: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
    let futs: Vec<_> = (0..10i64)
        .map(|i| {
            producer.send(
                FutureRecord::<(), _>::to(&topic)
                    .partition(1)
                    .payload(&payloads[i as usize])
                    .timestamp(BASE_TS + i * 1000),
                Duration::from_secs(10),
            )
        })
        .collect();
    for r in futures::future::join_all(futs).await {
        r.expect("delivered");
    }

    let consumer = broker.base_consumer(&[]);
    let lookup = |p: i32, ts: i64| -> Offset {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, p, Offset::Offset(ts))
            .unwrap();
        let res = consumer
            .offsets_for_times(tpl, OP_TIMEOUT)
            .expect("ListOffsets by time");
        let e = res.find_partition(&topic, p).expect("partition in result");
        e.error().expect("no partition error");
        e.offset()
    };
    for p in [0, 1] {
        assert_eq!(
            lookup(p, BASE_TS - 5000),
            Offset::Offset(0),
            "before everything: first record (p{p})"
        );
        assert_eq!(lookup(p, BASE_TS), Offset::Offset(0), "exact match (p{p})");
        assert_eq!(
            lookup(p, BASE_TS + 3000),
            Offset::Offset(3),
            "exact match (p{p})"
        );
        assert_eq!(
            lookup(p, BASE_TS + 3500),
            Offset::Offset(4),
            "between records (p{p})"
        );
        assert_eq!(
            lookup(p, BASE_TS + 9000),
            Offset::Offset(9),
            "last record (p{p})"
        );
        assert_eq!(
            lookup(p, BASE_TS + 9001),
            Offset::End,
            "after everything: no offset (p{p})"
        );
    }

    // Earliest and latest.
    assert_eq!(broker.watermarks(&topic, 0), (0, 10));
    assert_eq!(broker.watermarks(&topic, 1), (0, 10));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    let res = consumer
        .offsets_for_times(tpl, OP_TIMEOUT)
        .expect("ListOffsets earliest");
    assert_eq!(
        res.find_partition(&topic, 0).unwrap().offset(),
        Offset::Offset(0)
    );

    // Still right after a restart (the time index is rebuilt or persisted).
    let mut broker = broker;
    broker.kill9();
    broker.restart();
    let consumer = broker.base_consumer(&[]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(BASE_TS + 6500))
        .unwrap();
    tpl.add_partition_offset(&topic, 1, Offset::Offset(BASE_TS + 6500))
        .unwrap();
    let res = consumer
        .offsets_for_times(tpl, OP_TIMEOUT)
        .expect("ListOffsets by time after restart");
    assert_eq!(
        res.find_partition(&topic, 0).unwrap().offset(),
        Offset::Offset(7)
    );
    assert_eq!(
        res.find_partition(&topic, 1).unwrap().offset(),
        Offset::Offset(7)
    );
    assert_eq!(broker.watermarks(&topic, 0), (0, 10));
}

#[tokio::test]
async fn given_empty_partition_when_listing_offsets_should_report_zero_and_no_time_match() {
    let broker = TestBroker::start();
    let topic = unique_topic("empty");
    broker.create_topic(&topic, 1, &[]).await;
    assert_eq!(broker.watermarks(&topic, 0), (0, 0));
    let consumer = broker.base_consumer(&[]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(BASE_TS))
        .unwrap();
    let res = consumer
        .offsets_for_times(tpl, OP_TIMEOUT)
        .expect("ListOffsets");
    assert_eq!(res.find_partition(&topic, 0).unwrap().offset(), Offset::End);
}
