//! An idempotent producer that keeps sending while the broker is SIGKILLed and restarted: every
//! record it had acknowledged, and every record it retried, ends up in the log exactly once and in
//! order, because the broker rebuilds producer state (sequence numbers) from the log on recovery.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use rdkafka::producer::FutureRecord;
use rdkafka::Message;

const RECORDS: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_idempotent_producer_when_broker_is_killed_mid_stream_should_store_each_record_once_in_order(
) {
    let mut broker = TestBroker::start();
    let topic = unique_topic("idem-restart");
    broker.create_topic(&topic, 1, &[]).await;
    let producer = broker.producer(&[
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("linger.ms", "2"),
        ("batch.num.messages", "200"),
        ("message.timeout.ms", "60000"),
        ("retry.backoff.ms", "100"),
        ("reconnect.backoff.ms", "100"),
    ]);
    let mut pending = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let value = format!("v{i:06}");
        pending.push(
            enqueue(
                &producer,
                FutureRecord::to(&topic)
                    .partition(0)
                    .key("k")
                    .payload(&value),
            )
            .await,
        );
        if i == RECORDS / 3 {
            // Let some acknowledgements land, then kill the broker with requests in flight.
            tokio::time::sleep(Duration::from_millis(100)).await;
            broker.kill9();
            tokio::time::sleep(Duration::from_millis(300)).await;
            broker.restart();
        }
    }
    let mut acked = 0usize;
    for (i, f) in pending.into_iter().enumerate() {
        match f.await {
            Ok(Ok(_)) => acked += 1,
            Ok(Err((e, _))) => panic!("record {i} failed: {e}; log:\n{}", broker.log_tail(40)),
            Err(_) => panic!("record {i}: delivery canceled"),
        }
    }
    assert_eq!(acked, RECORDS);
    drop(producer);

    let messages = broker
        .consume_to_end(&topic, &[0], Duration::from_secs(60))
        .await;
    let values: Vec<String> = messages.iter().map(value).collect();
    let unique: HashSet<&String> = values.iter().collect();
    assert_eq!(unique.len(), values.len(), "no record stored twice");
    assert_eq!(values.len(), RECORDS, "every record stored");
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            v,
            &format!("v{i:06}"),
            "in order at offset {}",
            messages[i].offset()
        );
    }
}
