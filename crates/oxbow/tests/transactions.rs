//! Transactions through librdkafka's transactional producer (the `rdkafka` crate): committed and
//! aborted transactions interleaved, read_committed against read_uncommitted, fencing, a
//! consume-transform-produce loop with offsets in the transaction, and the broker SIGKILLed while
//! a transaction is open and while one is committing.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const TXN_TIMEOUT: Duration = Duration::from_secs(30);

fn txn_producer(broker: &TestBroker, id: &str, extra: &[(&str, &str)]) -> FutureProducer {
    let mut cfg = vec![
        ("transactional.id", id),
        ("transaction.timeout.ms", "10000"),
        ("message.timeout.ms", "10000"),
    ];
    cfg.extend_from_slice(extra);
    let p = broker.producer(&cfg);
    p.init_transactions(TXN_TIMEOUT)
        .unwrap_or_else(|e| panic!("init_transactions: {e}; log:\n{}", broker.log_tail(40)));
    p
}

async fn send(p: &FutureProducer, topic: &str, partition: i32, value: &str) {
    p.send(
        FutureRecord::<str, str>::to(topic)
            .partition(partition)
            .key(value)
            .payload(value),
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|(e, _)| panic!("send {value}: {e}"));
}

/// Reads every partition from the start until `idle` passes with nothing new; values per partition.
async fn read_all(
    broker: &TestBroker,
    topic: &str,
    partitions: i32,
    isolation: &str,
    idle: Duration,
) -> BTreeMap<i32, Vec<String>> {
    let consumer: StreamConsumer =
        broker.consumer(&[("isolation.level", isolation), ("fetch.wait.max.ms", "50")]);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    while let Ok(m) = tokio::time::timeout(idle, consumer.recv()).await {
        match m {
            Ok(m) => out
                .entry(m.partition())
                .or_default()
                .push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()),
            Err(KafkaError::PartitionEOF(_)) => {}
            Err(e) => panic!("consume: {e}"),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_interleaved_commits_and_aborts_when_read_should_show_exactly_committed_to_read_committed(
) {
    let broker = TestBroker::start();
    let topic = unique_topic("txn-mix");
    broker.create_topic(&topic, 2, &[]).await;
    let a = txn_producer(&broker, "mix-a", &[]);
    let b = txn_producer(&broker, "mix-b", &[]);
    let mut expected: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut all = 0usize;
    for round in 0..6 {
        for (name, p) in [("a", &a), ("b", &b)] {
            p.begin_transaction().unwrap();
            for i in 0..5 {
                let partition = i % 2;
                let v = format!("{name}-{round}-{i}");
                send(p, &topic, partition, &v).await;
                all += 1;
                if (round + usize::from(name == "b")) % 2 == 0 {
                    expected.entry(partition).or_default().push(v);
                }
            }
            if (round + usize::from(name == "b")) % 2 == 0 {
                p.commit_transaction(TXN_TIMEOUT).unwrap();
            } else {
                p.abort_transaction(TXN_TIMEOUT).unwrap();
            }
        }
    }
    let committed = read_all(&broker, &topic, 2, "read_committed", Duration::from_secs(2)).await;
    assert_eq!(
        committed, expected,
        "read_committed sees exactly the committed records, in order"
    );
    let uncommitted = read_all(
        &broker,
        &topic,
        2,
        "read_uncommitted",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(uncommitted.values().map(Vec::len).sum::<usize>(), all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_second_producer_with_same_id_when_it_initialises_should_fence_the_first() {
    let broker = TestBroker::start();
    let topic = unique_topic("txn-fence");
    broker.create_topic(&topic, 1, &[]).await;
    let first = txn_producer(&broker, "fence-me", &[]);
    first.begin_transaction().unwrap();
    send(&first, &topic, 0, "zombie").await;
    // The second producer's init aborts the first's open transaction and bumps the epoch.
    let second = txn_producer(&broker, "fence-me", &[]);
    let err = first
        .commit_transaction(TXN_TIMEOUT)
        .expect_err("the fenced producer cannot commit");
    assert!(
        err.to_string().to_lowercase().contains("fenc"),
        "fenced error expected, got {err}"
    );
    second.begin_transaction().unwrap();
    send(&second, &topic, 0, "live").await;
    second.commit_transaction(TXN_TIMEOUT).unwrap();
    let committed = read_all(&broker, &topic, 1, "read_committed", Duration::from_secs(2)).await;
    assert_eq!(committed.get(&0), Some(&vec!["live".to_string()]));
}

/// One pass of a consume-transform-produce job: reads from the group's committed position,
/// writes each input upper-cased in a transaction with the input offsets; stops after
/// `limit` records, committing every `per_txn`; `crash_mid` leaves the last transaction open.
async fn transform(
    broker: &TestBroker,
    input: &str,
    output: &str,
    limit: usize,
    per_txn: usize,
    crash_mid: bool,
) -> usize {
    let consumer: StreamConsumer = broker.consumer(&[
        ("group.id", "ctp"),
        ("isolation.level", "read_committed"),
        ("fetch.wait.max.ms", "50"),
    ]);
    consumer.subscribe(&[input]).unwrap();
    let producer = txn_producer(broker, "ctp-job", &[]);
    let mut done = 0;
    let mut in_txn = 0;
    let mut offsets = TopicPartitionList::new();
    producer.begin_transaction().unwrap();
    while done < limit {
        let m = match tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await {
            Ok(Ok(m)) => m,
            Ok(Err(KafkaError::PartitionEOF(_))) => continue,
            Ok(Err(e)) => panic!("consume: {e}"),
            Err(_) => break,
        };
        let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_uppercase();
        send(&producer, output, 0, &v).await;
        offsets
            .add_partition_offset(m.topic(), m.partition(), Offset::Offset(m.offset() + 1))
            .unwrap();
        done += 1;
        in_txn += 1;
        if in_txn == per_txn && !(crash_mid && done + per_txn > limit) {
            let meta = consumer.group_metadata().expect("group metadata");
            producer
                .send_offsets_to_transaction(&offsets, &meta, TXN_TIMEOUT)
                .unwrap();
            producer.commit_transaction(TXN_TIMEOUT).unwrap();
            producer.begin_transaction().unwrap();
            in_txn = 0;
        }
    }
    if !crash_mid && in_txn > 0 {
        let meta = consumer.group_metadata().expect("group metadata");
        producer
            .send_offsets_to_transaction(&offsets, &meta, TXN_TIMEOUT)
            .unwrap();
        producer.commit_transaction(TXN_TIMEOUT).unwrap();
    }
    // crash_mid: dropped with a transaction open, as a killed job would leave it.
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_transform_job_killed_mid_transaction_when_restarted_should_produce_each_output_once()
{
    let broker = TestBroker::start();
    let input = unique_topic("ctp-in");
    let output = unique_topic("ctp-out");
    broker.create_topic(&input, 1, &[]).await;
    broker.create_topic(&output, 1, &[]).await;
    let plain = broker.producer(&[]);
    let inputs: Vec<String> = (0..40).map(|i| format!("rec-{i:02}")).collect();
    for v in &inputs {
        send(&plain, &input, 0, v).await;
    }
    transform(&broker, &input, &output, 25, 10, true).await;
    // The restarted job (same transactional id) fences and aborts the open transaction, then
    // resumes from the offsets committed in the last committed transaction.
    transform(&broker, &input, &output, 1000, 10, false).await;
    let out = read_all(
        &broker,
        &output,
        1,
        "read_committed",
        Duration::from_secs(2),
    )
    .await;
    let expected: Vec<String> = inputs.iter().map(|v| v.to_uppercase()).collect();
    assert_eq!(
        out.get(&0),
        Some(&expected),
        "every output exactly once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_broker_killed_with_open_transaction_when_restarted_should_abort_it_on_timeout() {
    let mut broker = TestBroker::builder()
        .with_env("OXBOW_TRANSACTION_ABORT_TIMED_OUT_CHECK_INTERVAL_MS", "100")
        .start();
    let topic = unique_topic("txn-open-crash");
    broker.create_topic(&topic, 1, &[]).await;
    let p = txn_producer(
        &broker,
        "open-crash",
        &[
            ("transaction.timeout.ms", "3000"),
            ("message.timeout.ms", "3000"),
        ],
    );
    p.begin_transaction().unwrap();
    send(&p, &topic, 0, "never").await;
    let plain = broker.producer(&[]);
    send(&plain, &topic, 0, "after").await;
    drop(p);
    broker.kill9();
    broker.restart();
    // The open transaction holds the LSO until the coordinator aborts it after its timeout.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let committed = read_all(
            &broker,
            &topic,
            1,
            "read_committed",
            Duration::from_millis(500),
        )
        .await;
        if committed.get(&0) == Some(&vec!["after".to_string()]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "LSO never moved past the aborted transaction: {committed:?}; log:\n{}",
            broker.log_tail(40)
        );
    }
    let uncommitted = read_all(
        &broker,
        &topic,
        1,
        "read_uncommitted",
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(uncommitted.get(&0).map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_broker_killed_while_committing_when_restarted_should_complete_the_commit() {
    for point in ["txn-decided", "txn-markers-written"] {
        let mut broker = TestBroker::builder()
            .with_env("OXBOW_TEST_CRASH_POINT", point)
            .start();
        let topic = unique_topic("txn-commit-crash");
        broker.create_topic(&topic, 2, &[]).await;
        let p = txn_producer(&broker, "commit-crash", &[]);
        p.begin_transaction().unwrap();
        let values: Vec<String> = (0..10).map(|i| format!("c-{i}")).collect();
        for (i, v) in values.iter().enumerate() {
            send(&p, &topic, (i % 2) as i32, v).await;
        }
        // The broker aborts at the crash point: the commit's answer never comes.
        let _ = p.commit_transaction(Duration::from_secs(3));
        drop(p);
        assert!(
            wait_until(Duration::from_secs(10), || !broker.is_running()).await,
            "broker did not stop at {point}"
        );
        broker.restart_with_env(&[]);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let committed = read_all(
                &broker,
                &topic,
                2,
                "read_committed",
                Duration::from_millis(500),
            )
            .await;
            if committed.values().map(Vec::len).sum::<usize>() == values.len() {
                let mut seen: Vec<String> = committed.into_values().flatten().collect();
                seen.sort();
                let mut want = values.clone();
                want.sort();
                assert_eq!(seen, want, "{point}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{point}: the commit did not complete after restart: {committed:?}; log:\n{}",
                broker.log_tail(40)
            );
        }
    }
}

/// A small deterministic generator (xorshift64*), so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Seeds to run: `OXBOW_TEST_TXN_SEEDS` (comma-separated) or three fixed ones.
fn seeds() -> Vec<u64> {
    match std::env::var("OXBOW_TEST_TXN_SEEDS") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![1, 2, 3],
    }
}

/// One randomized run: transactions committed, aborted, abandoned by a producer restart, or cut
/// by a broker SIGKILL, against a model of what was committed. After the run, read_committed
/// must return exactly the committed records per partition, in order, no gaps, no duplicates.
async fn random_run(seed: u64) {
    const PARTITIONS: i32 = 3;
    let mut rng = Rng::new(seed);
    let mut broker = TestBroker::builder()
        .with_env("OXBOW_TRANSACTION_ABORT_TIMED_OUT_CHECK_INTERVAL_MS", "100")
        .start();
    let topic = unique_topic(&format!("txn-random-{seed}"));
    broker.create_topic(&topic, PARTITIONS, &[]).await;
    let id = format!("random-{seed}");
    let mut model: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut producer = txn_producer(&broker, &id, &[]);
    for txn in 0..24 {
        producer.begin_transaction().unwrap();
        let n = 1 + rng.below(6);
        let mut sent = Vec::new();
        for i in 0..n {
            let partition = rng.below(PARTITIONS as u64) as i32;
            let v = format!("s{seed}-t{txn}-{i}");
            send(&producer, &topic, partition, &v).await;
            sent.push((partition, v));
        }
        let action = rng.below(10);
        match action {
            0..=4 => {
                producer.commit_transaction(TXN_TIMEOUT).unwrap();
                for (p, v) in sent {
                    model.entry(p).or_default().push(v);
                }
                if action == 4 {
                    // A SIGKILL right after an acknowledged commit loses nothing of it.
                    drop(producer);
                    broker.kill9();
                    broker.restart();
                    producer = txn_producer(&broker, &id, &[]);
                }
            }
            5..=6 => producer.abort_transaction(TXN_TIMEOUT).unwrap(),
            7..=8 => {
                // The producer dies mid-transaction; its successor's init aborts it.
                drop(producer);
                producer = txn_producer(&broker, &id, &[]);
            }
            _ => {
                // The broker dies mid-transaction; the recovered coordinator aborts it when the
                // restarted producer initialises.
                drop(producer);
                broker.kill9();
                broker.restart();
                producer = txn_producer(&broker, &id, &[]);
            }
        }
    }
    drop(producer);
    let got = read_all(
        &broker,
        &topic,
        PARTITIONS,
        "read_committed",
        Duration::from_secs(2),
    )
    .await;
    let got: BTreeMap<i32, Vec<String>> = got.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let want: BTreeMap<i32, Vec<String>> =
        model.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    assert_eq!(
        got, want,
        "seed {seed}: read_committed differs from the committed inputs (rerun with OXBOW_TEST_TXN_SEEDS={seed}); log:\n{}",
        broker.log_tail(30)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_random_commits_aborts_and_crashes_when_read_committed_should_equal_the_model() {
    for seed in seeds() {
        eprintln!("transactions random run: seed {seed}");
        random_run(seed).await;
    }
}

mod tv2 {
    //! Transaction Version 2 (KIP-890 part 2) as a Kafka 4 client speaks it, in raw requests:
    //! no AddPartitionsToTxn (Produce v12 adds the partition), EndTxn v5 bumps the epoch, and a
    //! late write with the previous epoch is refused.

    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        ApiVersionsRequest, EndTxnRequest, InitProducerIdRequest, ProduceRequest, ProducerId,
        TopicName, TransactionalId,
    };
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use kafka_protocol::ResponseError;

    fn txn_batch(pid: i64, epoch: i16, seq: i32, value: &str) -> Bytes {
        let record = Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: seq,
            timestamp: now_ms(),
            key: None,
            value: Some(Bytes::from(value.to_string())),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &[record],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    }

    fn produce(broker: &TestBroker, id: &str, topic: &str, records: Bytes) -> i16 {
        produce_as(broker, Some(id), topic, records)
    }

    fn produce_as(broker: &TestBroker, id: Option<&str>, topic: &str, records: Bytes) -> i16 {
        let req = ProduceRequest::default()
            .with_transactional_id(id.map(|id| TransactionalId(StrBytes::from_string(id.into()))))
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records))])]);
        let resp = broker.raw_request(12, &req);
        resp.responses[0].partition_responses[0].error_code
    }

    fn end(broker: &TestBroker, id: &str, pid: i64, epoch: i16, commit: bool) -> (i16, i64, i16) {
        let req = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(id.into())))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit);
        let resp = broker.raw_request(5, &req);
        (resp.error_code, resp.producer_id.0, resp.producer_epoch)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn given_tv2_client_when_transacting_should_add_implicitly_bump_epochs_and_fence_late_writes(
    ) {
        let broker = TestBroker::start();
        let topic = unique_topic("tv2");
        broker.create_topic(&topic, 1, &[]).await;
        let versions = broker.raw_request(3, &ApiVersionsRequest::default());
        let feature = versions
            .finalized_features
            .iter()
            .find(|f| f.name.as_str() == "transaction.version")
            .expect("transaction.version finalized");
        assert_eq!(feature.max_version_level, 2);

        let id = "tv2-client";
        let init = broker.raw_request(
            5,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str(id))))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        );
        assert_eq!(init.error_code, 0);
        let (pid, e0) = (init.producer_id.0, init.producer_epoch);

        assert_eq!(
            produce(&broker, id, &topic, txn_batch(pid, e0, 0, "committed")),
            0
        );
        let (code, pid1, e1) = end(&broker, id, pid, e0, true);
        assert_eq!(
            (code, pid1, e1),
            (0, pid, e0 + 1),
            "EndTxn v5 bumps the epoch"
        );

        // A late write of the committed transaction (old epoch) is refused, not added to a new one.
        let late = produce(&broker, id, &topic, txn_batch(pid, e0, 1, "late"));
        assert_eq!(late, ResponseError::InvalidProducerEpoch.code());

        assert_eq!(
            produce(&broker, id, &topic, txn_batch(pid, e1, 0, "aborted")),
            0
        );
        let (code, _, e2) = end(&broker, id, pid, e1, false);
        assert_eq!((code, e2), (0, e1 + 1));
        // A retried EndTxn of the aborted transaction is answered with the current epoch.
        assert_eq!(end(&broker, id, pid, e1, false), (0, pid, e2));

        let committed =
            read_all(&broker, &topic, 1, "read_committed", Duration::from_secs(2)).await;
        assert_eq!(committed.get(&0), Some(&vec!["committed".to_string()]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn given_stray_transactional_batches_when_produced_should_refuse_them_and_keep_the_lso() {
        let broker = TestBroker::start();
        let topic = unique_topic("stray");
        broker.create_topic(&topic, 1, &[]).await;
        // Without a transactional id, or for a producer no coordinator knows: never appended,
        // so no transaction opens that nobody would end.
        assert_eq!(
            produce_as(&broker, None, &topic, txn_batch(4242, 0, 0, "stray")),
            ResponseError::TransactionalIdAuthorizationFailed.code()
        );
        assert_eq!(
            produce(&broker, "nobody", &topic, txn_batch(4242, 0, 0, "stray")),
            ResponseError::InvalidProducerIdMapping.code()
        );
        let plain = broker.producer(&[]);
        send(&plain, &topic, 0, "plain").await;
        let committed =
            read_all(&broker, &topic, 1, "read_committed", Duration::from_secs(1)).await;
        assert_eq!(committed.get(&0), Some(&vec!["plain".to_string()]));
    }
}

mod limits {
    //! `transaction.max.timeout.ms` and `transactional.id.expiration.ms`, in raw requests.

    use super::*;
    use kafka_protocol::messages::{
        InitProducerIdRequest, ListTransactionsRequest, ProducerId, TransactionalId,
    };
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::ResponseError;

    fn init(broker: &TestBroker, id: &str, timeout_ms: i32) -> i16 {
        broker
            .raw_request(
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(StrBytes::from_string(id.into()))))
                    .with_transaction_timeout_ms(timeout_ms)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .error_code
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn given_timeout_above_max_when_initialising_should_refuse_and_idle_ids_should_expire() {
        let broker = TestBroker::builder()
            .with_env("OXBOW_TRANSACTION_MAX_TIMEOUT_MS", "60000")
            .with_env("OXBOW_TRANSACTION_ID_EXPIRATION_MS", "500")
            .with_env("OXBOW_TRANSACTION_REMOVE_EXPIRED_CHECK_INTERVAL_MS", "100")
            .with_env("OXBOW_TRANSACTION_ABORT_TIMED_OUT_CHECK_INTERVAL_MS", "100")
            .start();
        assert_eq!(
            init(&broker, "too-long", 60_001),
            ResponseError::InvalidTransactionTimeout.code()
        );
        assert_eq!(init(&broker, "short-lived", 60_000), 0);
        let listed = |b: &TestBroker| {
            b.raw_request(0, &ListTransactionsRequest::default())
                .transaction_states
                .iter()
                .map(|t| t.transactional_id.0.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(listed(&broker), vec!["short-lived".to_string()]);
        assert!(
            wait_until(Duration::from_secs(10), || listed(&broker).is_empty()).await,
            "the idle transactional id was not expired"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_stale_group_generation_when_committing_offsets_in_transaction_should_fence_the_zombie(
) {
    use rdkafka::consumer::BaseConsumer;
    let broker = TestBroker::builder()
        .with_env("OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .start();
    let topic = unique_topic("txn-kip447");
    broker.create_topic(&topic, 2, &[]).await;
    let member = |name: &str| -> BaseConsumer {
        let c: BaseConsumer = broker.base_consumer(&[
            ("group.id", "kip447"),
            ("client.id", name),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ]);
        c.subscribe(&[topic.as_str()]).unwrap();
        c
    };
    let poll_until = |cs: &[&BaseConsumer], done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !done() && std::time::Instant::now() < deadline {
            for c in cs {
                let _ = c.poll(Duration::from_millis(50));
            }
        }
        done()
    };
    let a = member("a");
    assert!(poll_until(&[&a], &|| a
        .assignment()
        .map(|t| t.count())
        .unwrap_or(0)
        == 2));
    let zombie_meta = a.group_metadata().expect("group metadata");
    let b = member("b");
    let split = || {
        a.assignment().map(|t| t.count()).unwrap_or(0) == 1
            && b.assignment().map(|t| t.count()).unwrap_or(0) == 1
    };
    assert!(poll_until(&[&a, &b], &split), "the group did not rebalance");

    let producer = txn_producer(&broker, "kip447-producer", &[]);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(0))
        .unwrap();
    producer.begin_transaction().unwrap();
    let err = producer
        .send_offsets_to_transaction(&offsets, &zombie_meta, TXN_TIMEOUT)
        .expect_err("offsets of a previous generation are refused");
    assert!(
        err.to_string().to_lowercase().contains("generation"),
        "ILLEGAL_GENERATION expected, got {err}"
    );
}
