//! A batch larger than the topic's max.message.bytes is refused with MESSAGE_TOO_LARGE; nothing
//! else is affected.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::Message;

#[tokio::test]
async fn given_record_over_max_message_bytes_when_producing_should_fail_it_alone_with_message_size_too_large(
) {
    let broker = TestBroker::start();
    let topic = unique_topic("big");
    broker
        .create_topic(&topic, 2, &[("max.message.bytes", "10000")])
        .await;
    // Uncompressed, so the batch really is bigger than the limit; the client's own limit (1 MB)
    // lets it through, so the broker has to refuse it.
    let producer = broker.producer(&[
        ("compression.type", "none"),
        ("linger.ms", "50"),
        ("retries", "0"),
    ]);

    let big = "x".repeat(20_000);
    let smalls: Vec<String> = (0..10).map(|i| format!("small-{i}")).collect();
    let big_fut = producer
        .send_result(FutureRecord::<(), _>::to(&topic).partition(0).payload(&big))
        .map_err(|(e, _)| e)
        .expect("the client accepts the record locally");
    let small_futs: Vec<_> = smalls
        .iter()
        .map(|s| {
            producer.send(
                FutureRecord::<(), _>::to(&topic).partition(1).payload(s),
                Duration::from_secs(10),
            )
        })
        .collect();

    match big_fut.await.expect("delivery report") {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
        other => panic!(
            "expected MessageSizeTooLarge, got {other:?}; log:\n{}",
            broker.log_tail(40)
        ),
    }
    for r in futures::future::join_all(small_futs).await {
        r.unwrap_or_else(|(e, _)| panic!("small record in other partition failed: {e}"));
    }

    // The same partition still takes records afterwards, and a record right under the limit.
    let fine = "y".repeat(9_000);
    producer
        .send(
            FutureRecord::<(), _>::to(&topic)
                .partition(0)
                .payload(&fine),
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("record under the limit: {e}"));
    producer
        .send(
            FutureRecord::<(), _>::to(&topic)
                .partition(0)
                .payload("after"),
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("later record: {e}"));

    assert_eq!(
        broker.watermarks(&topic, 0),
        (0, 2),
        "nothing of the refused batch was written"
    );
    assert_eq!(broker.watermarks(&topic, 1), (0, 10));
    let p0 = broker
        .consume_n(&topic, &[0], 2, Duration::from_secs(10))
        .await;
    assert_eq!(
        p0.iter()
            .map(|m| m.payload().map_or(0, |p| p.len()))
            .collect::<Vec<_>>(),
        vec![9_000, 5]
    );
    let p1 = broker
        .consume_n(&topic, &[1], 10, Duration::from_secs(10))
        .await;
    assert_eq!(p1.iter().map(value).collect::<Vec<_>>(), smalls);
}

#[tokio::test]
async fn given_broker_default_max_message_bytes_when_producing_1_5_mb_should_refuse_it() {
    let broker = TestBroker::start();
    let topic = unique_topic("big-default");
    broker.create_topic(&topic, 1, &[]).await;
    // Raise the client's limit so the record reaches the broker, whose default is 1048588 bytes.
    let producer = broker.producer(&[
        ("compression.type", "none"),
        ("message.max.bytes", "4000000"),
        ("retries", "0"),
    ]);
    let big = vec![b'z'; 1_500_000];
    let res = producer
        .send(
            FutureRecord::<(), _>::to(&topic).partition(0).payload(&big),
            Duration::from_secs(10),
        )
        .await;
    match res {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
        other => panic!(
            "expected MessageSizeTooLarge, got {:?}",
            other.map(|d| d.offset)
        ),
    }
    producer
        .send(
            FutureRecord::<(), _>::to(&topic).partition(0).payload("ok"),
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("later small record: {e}"));
    assert_eq!(broker.watermarks(&topic, 0), (0, 1));
}
