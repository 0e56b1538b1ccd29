//! Incremental fetch sessions (KIP-227) and fetch long-polling, through raw Fetch requests: the
//! way the Java client drives them.

mod common;

use std::time::{Duration, Instant};

use common::TestBroker;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::FutureRecord;

fn fetch(
    topic: &str,
    partitions: &[(i32, i64)],
    session_id: i32,
    epoch: i32,
    max_wait_ms: i32,
) -> FetchRequest {
    let topics = if partitions.is_empty() {
        vec![]
    } else {
        vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(
                partitions
                    .iter()
                    .map(|(p, offset)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*offset)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]
    };
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_session_id(session_id)
        .with_session_epoch(epoch)
        .with_topics(topics)
}

async fn produce(broker: &TestBroker, topic: &str, partition: i32, n: usize) {
    let producer = broker.producer(&[]);
    for i in 0..n {
        producer
            .send(
                FutureRecord::to(topic)
                    .partition(partition)
                    .key("k")
                    .payload(&format!("v{i}")),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_incremental_session_when_fetching_should_return_only_partitions_with_news() {
    let broker = TestBroker::start();
    let topic = common::unique_topic("sessions");
    broker.create_topic(&topic, 2, &[]).await;
    produce(&broker, &topic, 0, 3).await;
    let addr = broker.bootstrap();

    // Epoch 0 opens a session and answers in full.
    let full = common::raw_request(&addr, 12, &fetch(&topic, &[(0, 0), (1, 0)], 0, 0, 0));
    assert_eq!(full.error_code, 0);
    assert!(full.session_id > 0, "a session id is handed out");
    let parts = &full.responses[0].partitions;
    assert_eq!(parts.len(), 2, "a full response lists every partition");
    assert_eq!(
        parts
            .iter()
            .find(|p| p.partition_index == 0)
            .map(|p| p.high_watermark),
        Some(3)
    );

    // Epoch 1 names only the moved position; nothing new anywhere: an empty answer after max_wait.
    let started = Instant::now();
    let quiet = common::raw_request(
        &addr,
        12,
        &fetch(&topic, &[(0, 3)], full.session_id, 1, 300),
    );
    assert_eq!(quiet.error_code, 0);
    assert!(
        quiet.responses.iter().all(|t| t.partitions.is_empty()),
        "nothing changed: {quiet:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "the fetch long-polled"
    );

    // New data on partition 1 only: epoch 2 returns just that partition.
    produce(&broker, &topic, 1, 2).await;
    let news = common::raw_request(&addr, 12, &fetch(&topic, &[], full.session_id, 2, 1000));
    let parts: Vec<_> = news
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .collect();
    assert_eq!(parts.len(), 1, "only the partition with news: {news:?}");
    assert_eq!(parts[0].partition_index, 1);
    assert!(parts[0].records.as_ref().is_some_and(|r| !r.is_empty()));

    // A stale epoch and an unknown session id are refused with their codes.
    let stale = common::raw_request(&addr, 12, &fetch(&topic, &[], full.session_id, 2, 0));
    assert_eq!(stale.error_code, 71, "INVALID_FETCH_SESSION_EPOCH");
    let unknown = common::raw_request(&addr, 12, &fetch(&topic, &[], 987_654, 1, 0));
    assert_eq!(unknown.error_code, 70, "FETCH_SESSION_ID_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_waiting_fetch_when_data_arrives_should_answer_before_max_wait() {
    let broker = TestBroker::start();
    let topic = common::unique_topic("longpoll");
    broker.create_topic(&topic, 1, &[]).await;
    let addr = broker.bootstrap();
    let t = topic.clone();
    let started = Instant::now();
    let waiter = tokio::task::spawn_blocking(move || {
        common::raw_request(&addr, 12, &fetch(&t, &[(0, 0)], 0, -1, 10_000))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    produce(&broker, &topic, 0, 1).await;
    let resp = waiter.await.expect("fetch task");
    let elapsed = started.elapsed();
    let part = &resp.responses[0].partitions[0];
    assert!(
        part.records.as_ref().is_some_and(|r| !r.is_empty()),
        "the record arrived"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "woken by the append, not the 10 s timeout ({elapsed:?})"
    );
    // Out of range is answered at once with the code clients reset on.
    let resp = common::raw_request(
        &broker.bootstrap(),
        12,
        &fetch(&topic, &[(0, 999)], 0, -1, 5000),
    );
    assert_eq!(
        resp.responses[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );
}
