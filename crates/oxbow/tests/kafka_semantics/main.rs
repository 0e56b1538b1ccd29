//! Kafka's documented behaviour in corners the other suites do not reach: fetch size limits
//! (KIP-74), fetches inside a batch and `min_bytes` waits, LogAppendTime topics, DeleteRecords,
//! topic deletion under load and re-creation, runtime config changes, `acks=0`, produce and
//! metadata error codes, MAX_TIMESTAMP look-ups and committed offsets of deleted topics. Driven by
//! raw protocol frames (kafka-protocol) where exact codes matter, and by rdkafka otherwise.

#[path = "../common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DeleteRecordsRequest, FetchRequest, GroupId,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::consumer::Consumer;
use rdkafka::message::Timestamp;
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

const BASE_TS: i64 = 1_600_000_000_000;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_TOPIC_EXCEPTION: i16 = 17;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// One v2 record batch of `values` (record i has key `k{i}` and timestamp `timestamps[i]`).
fn batch(values: &[Vec<u8>], timestamps: &[i64], compression: Compression) -> Bytes {
    let keys: Vec<String> = (0..values.len()).map(|i| format!("k{i}")).collect();
    let keys: Vec<Option<&str>> = keys.iter().map(|k| Some(k.as_str())).collect();
    keyed_batch(&keys, values, timestamps, compression)
}

/// One v2 record batch: record i has key `keys[i]` (None: no key), value `values[i]` and
/// timestamp `timestamps[i]`.
fn keyed_batch(
    keys: &[Option<&str>],
    values: &[Vec<u8>],
    timestamps: &[i64],
    compression: Compression,
) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .zip(timestamps)
        .zip(keys)
        .enumerate()
        .map(|(i, ((v, ts), k))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch whenever offset - sequence changes; the batch's base
            // sequence stays -1 (no idempotence).
            sequence: i as i32 - 1,
            timestamp: *ts,
            key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::from(v.clone())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

fn values(n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![b'a' + (i % 26) as u8; size]).collect()
}

fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

/// Produce v9 with acks=1; the one partition's answer.
fn produce(
    broker: &TestBroker,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> PartitionProduceResponse {
    let resp = broker.raw_request(9, &produce_request(topic, partition, records, 1));
    resp.responses[0].partition_responses[0].clone()
}

fn produce_ok(broker: &TestBroker, topic: &str, partition: i32, records: Bytes) -> i64 {
    let p = produce(broker, topic, partition, records);
    assert_eq!(p.error_code, 0, "produce to {topic}-{partition}: {p:?}");
    p.base_offset
}

/// A sessionless Fetch v12 request.
fn fetch_request(
    topic: &str,
    parts: &[(i32, i64, i32)],
    max_bytes: i32,
    min_bytes: i32,
    max_wait_ms: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(
                parts
                    .iter()
                    .map(|(p, offset, max)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*offset)
                            .with_partition_max_bytes(*max)
                            .with_log_start_offset(-1)
                    })
                    .collect(),
            )])
}

fn fetch(broker: &TestBroker, req: &FetchRequest) -> Vec<PartitionData> {
    let resp = broker.raw_request(12, req);
    assert_eq!(resp.error_code, 0, "fetch error: {resp:?}");
    let mut parts: Vec<PartitionData> = resp
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .collect();
    parts.sort_by_key(|p| p.partition_index);
    parts
}

fn records_len(p: &PartitionData) -> usize {
    p.records.as_ref().map_or(0, |r| r.len())
}

/// (base offset, record offsets, timestamps) of each whole batch in a fetch answer.
fn decode(p: &PartitionData) -> Vec<(i64, Vec<i64>)> {
    let mut buf = p.records.clone().unwrap_or_default();
    let sets = RecordBatchDecoder::decode_all(&mut buf).expect("decode fetched batches");
    sets.into_iter()
        .map(|s| {
            let offsets: Vec<i64> = s.records.iter().map(|r| r.offset).collect();
            (offsets.first().copied().unwrap_or(-1), offsets)
        })
        .collect()
}

fn list_offset(
    broker: &TestBroker,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> (i16, i64, i64) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(timestamp)
                .with_current_leader_epoch(-1)])]);
    let resp = broker.raw_request(7, &req);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.offset, p.timestamp)
}

fn alter_topic_config(broker: &TestBroker, topic: &str, key: &str, value: &str) {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_string(key.to_string()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(value.to_string())))]),
    ]);
    let resp = broker.raw_request(1, &req);
    assert_eq!(resp.responses[0].error_code, 0, "altering {key}: {resp:?}");
}

fn metadata_v12(broker: &TestBroker, topics: &[&str]) -> Vec<(String, i16, [u8; 16], bool)> {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
                .collect(),
        ));
    let resp = broker.raw_request(12, &req);
    resp.topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                t.error_code,
                *t.topic_id.as_bytes(),
                t.is_internal,
            )
        })
        .collect()
}

// ---- Fetch sizes (KIP-74) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_batches_larger_than_limits_when_fetching_should_return_first_batch_whole_and_nothing_after(
) {
    let broker = TestBroker::start();
    let topic = unique_topic("kip74");
    broker.create_topic(&topic, 2, &[]).await;
    let b0 = batch(&values(5, 500), &[now_ms(); 5], Compression::None);
    for _ in 0..3 {
        produce_ok(&broker, &topic, 0, b0.clone());
    }
    produce_ok(&broker, &topic, 1, b0.clone());
    let size = b0.len();

    // Both limits far below one batch: the first partition with data still gets its first batch
    // whole; the next partition gets nothing (not an error).
    let parts = fetch(
        &broker,
        &fetch_request(&topic, &[(0, 0, 100), (1, 0, 100)], 100, 1, 0),
    );
    assert_eq!(parts[0].error_code, 0);
    assert_eq!(records_len(&parts[0]), size, "exactly the first batch");
    assert_eq!(decode(&parts[0]), vec![(0, vec![0, 1, 2, 3, 4])]);
    assert_eq!(parts[0].high_watermark, 15);
    assert_eq!(parts[1].error_code, 0);
    assert_eq!(
        records_len(&parts[1]),
        0,
        "a later partition gets nothing over the limit"
    );
    assert_eq!(parts[1].high_watermark, 5);

    // A small partition limit with a roomy response limit: the same.
    let parts = fetch(
        &broker,
        &fetch_request(&topic, &[(0, 0, 100), (1, 0, 100)], 1 << 20, 1, 0),
    );
    assert_eq!(records_len(&parts[0]), size);
    assert_eq!(records_len(&parts[1]), 0);

    // Empty first partition: the second one is now the first with data and gets its batch.
    let parts = fetch(
        &broker,
        &fetch_request(&topic, &[(0, 15, 100), (1, 0, 100)], 100, 1, 0),
    );
    assert_eq!(records_len(&parts[0]), 0);
    assert_eq!(records_len(&parts[1]), size);

    // Response limit just over one batch: never more than max_bytes in total.
    let parts = fetch(
        &broker,
        &fetch_request(
            &topic,
            &[(0, 0, 1 << 20), (1, 0, 1 << 20)],
            size as i32 + 10,
            1,
            0,
        ),
    );
    let total: usize = parts.iter().map(records_len).sum();
    assert!(
        total <= size + 10,
        "total {total} over max_bytes {}",
        size + 10
    );
    assert!(records_len(&parts[0]) >= size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_many_partitions_when_fetching_with_small_max_bytes_should_respect_the_response_limit(
) {
    let broker = TestBroker::start();
    let topic = unique_topic("manyparts");
    broker.create_topic(&topic, 8, &[]).await;
    let b = batch(&values(2, 400), &[now_ms(); 2], Compression::None);
    for p in 0..8 {
        produce_ok(&broker, &topic, p, b.clone());
    }
    let parts: Vec<(i32, i64, i32)> = (0..8).map(|p| (p, 0, 1 << 20)).collect();
    let max = (b.len() * 3 + b.len() / 2) as i32;
    let got = fetch(&broker, &fetch_request(&topic, &parts, max, 1, 0));
    assert_eq!(got.len(), 8, "every partition is answered");
    let total: usize = got.iter().map(records_len).sum();
    assert!(total <= max as usize, "{total} bytes over max_bytes {max}");
    let whole = got.iter().filter(|p| records_len(p) == b.len()).count();
    assert_eq!(whole, 3, "three whole batches fit");
    assert!(got
        .iter()
        .all(|p| p.error_code == 0 && p.high_watermark == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_offset_inside_a_batch_when_fetching_should_return_the_whole_batch_and_clients_skip()
{
    let broker = TestBroker::start();
    let topic = unique_topic("midbatch");
    broker.create_topic(&topic, 1, &[]).await;
    let vals: Vec<Vec<u8>> = (0..5).map(|i| format!("v{i}").into_bytes()).collect();
    produce_ok(
        &broker,
        &topic,
        0,
        batch(&vals, &[now_ms(); 5], Compression::Lz4),
    );
    produce_ok(
        &broker,
        &topic,
        0,
        batch(&vals, &[now_ms(); 5], Compression::None),
    );

    let parts = fetch(
        &broker,
        &fetch_request(&topic, &[(0, 2, 1 << 20)], 1 << 20, 1, 0),
    );
    let batches = decode(&parts[0]);
    assert_eq!(batches[0].0, 0, "the batch holding offset 2 starts at 0");
    let parts = fetch(
        &broker,
        &fetch_request(&topic, &[(0, 7, 1 << 20)], 1 << 20, 1, 0),
    );
    assert_eq!(decode(&parts[0]), vec![(5, vec![5, 6, 7, 8, 9])]);

    // librdkafka drops the records before its position.
    let consumer = broker.consumer(&[("fetch.wait.max.ms", "50"), ("check.crcs", "true")]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(3))
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut offsets = Vec::new();
    while offsets.len() < 7 {
        let m = tokio::time::timeout(Duration::from_secs(10), consumer.recv())
            .await
            .expect("record in time")
            .expect("record");
        offsets.push(m.offset());
    }
    assert_eq!(offsets, (3..10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_min_bytes_above_available_when_fetching_should_wait_max_wait_then_return_what_is_there(
) {
    let broker = TestBroker::start();
    let topic = unique_topic("minbytes");
    broker.create_topic(&topic, 1, &[]).await;
    let b = batch(&values(1, 100), &[now_ms()], Compression::None);
    produce_ok(&broker, &topic, 0, b.clone());
    let started = Instant::now();
    let parts = fetch(
        &broker,
        &fetch_request(&topic, &[(0, 0, 1 << 20)], 1 << 20, 1 << 20, 600),
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(550),
        "answered after {waited:?}, before max_wait"
    );
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    assert_eq!(records_len(&parts[0]), b.len(), "what there is comes back");
}

// ---- LogAppendTime ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_log_append_time_topic_when_producing_should_stamp_broker_time_with_valid_crcs() {
    let broker = TestBroker::start();
    let topic = unique_topic("appendtime");
    broker
        .create_topic(&topic, 1, &[("message.timestamp.type", "LogAppendTime")])
        .await;
    let before = now_ms();
    let plain = produce(
        &broker,
        &topic,
        0,
        batch(
            &values(3, 20),
            &[BASE_TS, BASE_TS + 1, BASE_TS + 2],
            Compression::None,
        ),
    );
    let zipped = produce(
        &broker,
        &topic,
        0,
        batch(&values(3, 20), &[BASE_TS; 3], Compression::Gzip),
    );
    let after = now_ms();
    for p in [&plain, &zipped] {
        assert_eq!(p.error_code, 0, "{p:?}");
        assert!(
            (before..=after).contains(&p.log_append_time_ms),
            "log_append_time_ms {} not broker time",
            p.log_append_time_ms
        );
    }
    assert_eq!(zipped.base_offset, 3);

    let consumer = broker.consumer(&[("fetch.wait.max.ms", "50"), ("check.crcs", "true")]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    for i in 0..6 {
        let m = tokio::time::timeout(Duration::from_secs(10), consumer.recv())
            .await
            .expect("record in time")
            .expect("no CRC error");
        let want = if i < 3 {
            plain.log_append_time_ms
        } else {
            zipped.log_append_time_ms
        };
        assert_eq!(m.timestamp(), Timestamp::LogAppendTime(want), "record {i}");
    }

    // Time look-ups use the append time, not the producer's.
    let (code, offset, ts) = list_offset(&broker, &topic, 0, BASE_TS + 1);
    assert_eq!((code, offset, ts), (0, 0, plain.log_append_time_ms));
    let (code, _, ts) = list_offset(&broker, &topic, 0, -3);
    assert_eq!(
        (code, ts),
        (0, zipped.log_append_time_ms),
        "MAX_TIMESTAMP is the latest append time"
    );
}

// ---- DeleteRecords ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_deleted_records_when_fetching_below_start_should_answer_out_of_range_and_consumers_reset(
) {
    let broker = TestBroker::start();
    let topic = unique_topic("delrecs");
    broker.create_topic(&topic, 1, &[]).await;
    for _ in 0..5 {
        produce_ok(
            &broker,
            &topic,
            0,
            batch(&values(2, 10), &[now_ms(); 2], Compression::None),
        );
    }
    let delete = |offset: i64| {
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(name(&topic))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)])]);
        let resp = broker.raw_request(2, &req);
        let p = &resp.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    };
    // Offset 5 is inside the batch 4..5: the log start becomes 5 all the same.
    assert_eq!(delete(5), (0, 5));
    assert_eq!(delete(2), (0, 5), "a lower offset changes nothing");
    assert_eq!(
        delete(11).0,
        OFFSET_OUT_OF_RANGE,
        "beyond the high watermark"
    );

    let parts = fetch(
        &broker,
        &fetch_request(&topic, &[(0, 0, 1 << 20)], 1 << 20, 1, 0),
    );
    assert_eq!(parts[0].error_code, OFFSET_OUT_OF_RANGE);
    assert_eq!(parts[0].log_start_offset, 5);
    let parts = fetch(
        &broker,
        &fetch_request(&topic, &[(0, 5, 1 << 20)], 1 << 20, 1, 0),
    );
    assert_eq!(parts[0].error_code, 0);
    assert_eq!(parts[0].log_start_offset, 5);
    assert_eq!(list_offset(&broker, &topic, 0, -2), (0, 5, -1));
    assert_eq!(
        list_offset(&broker, &topic, 0, 0).1,
        5,
        "by timestamp: the first record still there"
    );

    // A consumer asking for offset 0 resets to the earliest record still there.
    let consumer = broker.consumer(&[
        ("fetch.wait.max.ms", "50"),
        ("auto.offset.reset", "earliest"),
    ]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(0))
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let m = tokio::time::timeout(Duration::from_secs(10), consumer.recv())
        .await
        .expect("record in time")
        .expect("record");
    assert_eq!(m.offset(), 5);
    assert_eq!(broker.watermarks(&topic, 0), (5, 10));
}

// ---- Topic deletion and re-creation ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_fetch_waiting_when_topic_is_deleted_should_answer_unknown_and_recreate_fresh() {
    let broker = TestBroker::start();
    let topic = unique_topic("deltopic");
    broker.create_topic(&topic, 2, &[]).await;
    produce_ok(
        &broker,
        &topic,
        0,
        batch(&values(3, 10), &[now_ms(); 3], Compression::None),
    );
    let old_id = metadata_v12(&broker, &[&topic])[0].2;

    let addr = broker.bootstrap();
    let req = fetch_request(
        &topic,
        &[(0, 3, 1 << 20), (1, 0, 1 << 20)],
        1 << 20,
        1,
        20_000,
    );
    let started = Instant::now();
    let waiter = tokio::task::spawn_blocking(move || raw_request(&addr, 12, &req));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admin = broker.admin();
    let res = admin
        .delete_topics(&[&topic], &admin_opts())
        .await
        .expect("DeleteTopics");
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    let resp = waiter.await.expect("fetch task");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the waiting fetch was released by the deletion"
    );
    for p in resp.responses.iter().flat_map(|t| &t.partitions) {
        assert_eq!(p.error_code, UNKNOWN_TOPIC_OR_PARTITION, "{p:?}");
    }
    assert_eq!(
        produce(
            &broker,
            &topic,
            0,
            batch(&values(1, 10), &[now_ms()], Compression::None)
        )
        .error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        metadata_v12(&broker, &[&topic])[0].1,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    broker.create_topic(&topic, 1, &[]).await;
    let md = metadata_v12(&broker, &[&topic]);
    assert_eq!(md[0].1, 0);
    assert_ne!(md[0].2, old_id, "a re-created topic gets a new id");
    assert_ne!(md[0].2, [0u8; 16]);
    assert_eq!(broker.watermarks(&topic, 0), (0, 0));
    assert_eq!(
        produce_ok(
            &broker,
            &topic,
            0,
            batch(&values(1, 10), &[now_ms()], Compression::None)
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_committed_offsets_when_topic_is_deleted_and_recreated_should_not_carry_them_over() {
    let broker = TestBroker::start();
    let topic = unique_topic("offdel");
    let other = unique_topic("offkeep");
    broker.create_topic(&topic, 1, &[]).await;
    broker.create_topic(&other, 1, &[]).await;
    for t in [&topic, &other] {
        produce_ok(
            &broker,
            t,
            0,
            batch(&values(5, 10), &[now_ms(); 5], Compression::None),
        );
    }
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g-del")))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(
            [&topic, &other]
                .iter()
                .map(|t| {
                    OffsetCommitRequestTopic::default()
                        .with_name(name(t))
                        .with_partitions(vec![OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(4)])
                })
                .collect(),
        );
    let resp = broker.raw_request(8, &commit);
    assert!(
        resp.topics
            .iter()
            .flat_map(|t| &t.partitions)
            .all(|p| p.error_code == 0),
        "{resp:?}"
    );

    let fetch_offsets = |broker: &TestBroker, group: &'static str| {
        let req = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_static_str(group)))
            .with_topics(Some(
                [&topic, &other]
                    .iter()
                    .map(|t| {
                        kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(name(t))
                            .with_partition_indexes(vec![0])
                    })
                    .collect(),
            ))]);
        let resp = broker.raw_request(8, &req);
        assert_eq!(resp.groups[0].error_code, 0);
        resp.groups[0]
            .topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partitions[0].committed_offset))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fetch_offsets(&broker, "g-del"),
        vec![(topic.clone(), 4), (other.clone(), 4)]
    );
    assert_eq!(
        fetch_offsets(&broker, "g-never"),
        vec![(topic.clone(), -1), (other.clone(), -1)],
        "unknown group: no offsets"
    );

    let admin = broker.admin();
    admin
        .delete_topics(&[&topic], &admin_opts())
        .await
        .expect("DeleteTopics");
    broker.create_topic(&topic, 1, &[]).await;
    // As in Kafka, deleting a topic drops the offsets committed for it: a consumer of the new
    // topic must not start at the old topic's position.
    assert_eq!(
        fetch_offsets(&broker, "g-del"),
        vec![(topic.clone(), -1), (other.clone(), 4)]
    );
    let mut broker = broker;
    broker.restart();
    assert_eq!(
        fetch_offsets(&broker, "g-del"),
        vec![(topic.clone(), -1), (other.clone(), 4)],
        "also after a restart"
    );
}

// ---- Runtime config changes ----

mod produce_and_topics;
