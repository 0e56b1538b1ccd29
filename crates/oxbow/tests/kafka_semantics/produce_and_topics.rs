//! Produce rules, runtime topic changes, metadata without auto-creation, timestamps and sizes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_topic_config_changed_at_runtime_when_producing_should_apply_it_at_once() {
    let broker = TestBroker::start();
    let topic = unique_topic("dyncfg");
    broker.create_topic(&topic, 1, &[]).await;
    let big = batch(&values(1, 10_000), &[now_ms()], Compression::None);
    produce_ok(&broker, &topic, 0, big.clone());
    alter_topic_config(&broker, &topic, "max.message.bytes", "5000");
    let p = produce(&broker, &topic, 0, big.clone());
    assert_eq!(p.error_code, MESSAGE_TOO_LARGE, "{p:?}");
    produce_ok(
        &broker,
        &topic,
        0,
        batch(&values(1, 100), &[now_ms()], Compression::None),
    );

    let dir = broker.data_dir().join(format!("{topic}-0"));
    assert_eq!(segment_count(&dir), 1);
    alter_topic_config(&broker, &topic, "segment.bytes", "2000");
    for _ in 0..3 {
        produce_ok(
            &broker,
            &topic,
            0,
            batch(&values(1, 1500), &[now_ms()], Compression::None),
        );
    }
    assert!(
        segment_count(&dir) >= 3,
        "segments roll at the new size: {}",
        segment_count(&dir)
    );
    assert_eq!(broker.watermarks(&topic, 0), (0, 5));
}

// ---- acks=0 ----

fn frame<R: Encodable + HeaderVersion>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    req: &R,
) -> Vec<u8>
where
    R: kafka_protocol::protocol::Request,
{
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("oxbow-it")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .unwrap();
    req.encode(&mut body, version).unwrap();
    let mut out = Vec::with_capacity(body.len() + 4);
    out.put_i32(body.len() as i32);
    out.extend_from_slice(&body);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_acks_zero_when_producing_should_store_records_and_answer_only_later_requests() {
    let broker = TestBroker::start();
    let topic = unique_topic("acks0");
    broker.create_topic(&topic, 1, &[]).await;
    let mut s = TcpStream::connect(broker.bootstrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for i in 0..3 {
        let req = produce_request(
            &topic,
            0,
            batch(&values(2, 10), &[now_ms(); 2], Compression::None),
            0,
        );
        s.write_all(&frame(ApiKey::Produce, 9, 100 + i, &req))
            .unwrap();
    }
    s.write_all(&frame(
        ApiKey::ApiVersions,
        3,
        200,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("it"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    ))
    .unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).unwrap();
    let mut buf = Bytes::from(buf);
    let h = ResponseHeader::decode(&mut buf, 0).unwrap();
    assert_eq!(
        h.correlation_id, 200,
        "the first answer is the ApiVersions one: acks=0 produces get none"
    );
    let v = ApiVersionsResponse::decode(&mut buf, 3).unwrap();
    assert_eq!(v.error_code, 0);
    assert_eq!(buf.remaining(), 0);
    assert_eq!(broker.watermarks(&topic, 0), (0, 6));

    // An acks=0 produce that fails (unknown partition): as Kafka, the broker closes that
    // connection (the client's cue to refresh metadata) and keeps serving new ones.
    let req = produce_request(
        &topic,
        7,
        batch(&values(1, 10), &[now_ms()], Compression::None),
        0,
    );
    s.write_all(&frame(ApiKey::Produce, 9, 300, &req)).unwrap();
    let mut rest = Vec::new();
    let closed = s.read_to_end(&mut rest);
    assert!(
        matches!(closed, Ok(0))
            || matches!(&closed, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the connection is closed without a reply: {closed:?}, {} bytes",
        rest.len()
    );
    assert_eq!(
        produce_ok(
            &broker,
            &topic,
            0,
            batch(&values(1, 10), &[now_ms()], Compression::None)
        ),
        6
    );
}

// ---- Produce and Metadata error codes ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_bad_targets_when_producing_should_answer_kafka_codes() {
    let broker = TestBroker::start();
    let topic = unique_topic("badtarget");
    broker.create_topic(&topic, 1, &[]).await;
    let b = || batch(&values(1, 10), &[now_ms()], Compression::None);
    assert_eq!(
        produce(&broker, &topic, 1, b()).error_code,
        UNKNOWN_TOPIC_OR_PARTITION,
        "partition past the count"
    );
    assert_eq!(
        produce(&broker, &topic, -1, b()).error_code,
        UNKNOWN_TOPIC_OR_PARTITION,
        "negative partition"
    );
    assert_eq!(
        produce(&broker, "no-such-topic", 0, b()).error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        produce(&broker, "bad name!", 0, b()).error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert!(
        !broker.topic_names().contains(&"no-such-topic".to_string()),
        "Produce never creates topics"
    );

    // Clients may not append to the internal offsets topic.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(name(&topic))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(0)])]);
    broker.raw_request(8, &commit);
    let (lo, hi) = broker.watermarks("__consumer_offsets", 0);
    let p = produce(&broker, "__consumer_offsets", 0, b());
    assert_eq!(p.error_code, INVALID_TOPIC_EXCEPTION, "{p:?}");
    assert_eq!(broker.watermarks("__consumer_offsets", 0), (lo, hi));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_mixed_topics_when_fetching_metadata_without_auto_create_should_answer_per_topic() {
    let broker = TestBroker::start();
    let topic = unique_topic("mdmix");
    let user_internal_looking = unique_topic("__user");
    broker.create_topic(&topic, 2, &[]).await;
    broker.create_topic(&user_internal_looking, 1, &[]).await;
    let md = metadata_v12(
        &broker,
        &[&topic, "md-missing", "bad name!", &user_internal_looking],
    );
    assert_eq!(md.len(), 4);
    assert_eq!((md[0].0.as_str(), md[0].1), (topic.as_str(), 0));
    assert_ne!(md[0].2, [0u8; 16]);
    assert_eq!(
        (md[1].0.as_str(), md[1].1),
        ("md-missing", UNKNOWN_TOPIC_OR_PARTITION)
    );
    assert_eq!(
        (md[2].0.as_str(), md[2].1),
        ("bad name!", INVALID_TOPIC_EXCEPTION)
    );
    // Only Kafka's own topics are internal, not every name starting with "__".
    assert_eq!(md[3].1, 0);
    assert!(
        !md[3].3,
        "a user topic named {user_internal_looking} is not internal"
    );
    assert!(!broker.topic_names().contains(&"md-missing".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_auto_create_disabled_when_producing_to_unknown_topic_should_fail_the_records() {
    let broker = TestBroker::builder()
        .with_env("OXBOW_LOG_AUTO_CREATE_TOPICS", "false")
        .start();
    let producer = broker.producer(&[
        ("message.timeout.ms", "3000"),
        ("topic.metadata.propagation.max.ms", "500"),
    ]);
    let r = producer
        .send(
            FutureRecord::<(), _>::to("never-created").payload("x"),
            Duration::from_secs(5),
        )
        .await;
    let (err, _) = r.expect_err("the record must fail");
    let code = err.rdkafka_error_code();
    assert!(
        matches!(
            code,
            Some(rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)
                | Some(rdkafka::types::RDKafkaErrorCode::UnknownTopic)
        ),
        "{err:?}"
    );
    assert!(!broker.topic_names().contains(&"never-created".to_string()));
}

// ---- MAX_TIMESTAMP ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_out_of_order_timestamps_when_listing_max_timestamp_should_find_that_record() {
    let broker = TestBroker::start();
    let topic = unique_topic("maxts");
    broker
        .create_topic(
            &topic,
            1,
            &[("retention.ms", "-1"), ("segment.bytes", "300")],
        )
        .await;
    assert_eq!(
        list_offset(&broker, &topic, 0, -3),
        (0, -1, -1),
        "empty log: no record"
    );
    // offsets 0..2, 3..5, 6..8 in their own batches (and segments); the newest time is at 4.
    produce_ok(
        &broker,
        &topic,
        0,
        batch(
            &values(3, 30),
            &[BASE_TS + 10, BASE_TS + 30, BASE_TS + 20],
            Compression::None,
        ),
    );
    produce_ok(
        &broker,
        &topic,
        0,
        batch(
            &values(3, 30),
            &[BASE_TS + 5, BASE_TS + 90, BASE_TS + 40],
            Compression::Snappy,
        ),
    );
    produce_ok(
        &broker,
        &topic,
        0,
        batch(
            &values(3, 30),
            &[BASE_TS + 50, BASE_TS + 60, BASE_TS + 1],
            Compression::None,
        ),
    );
    assert_eq!(list_offset(&broker, &topic, 0, -3), (0, 4, BASE_TS + 90));
    // By timestamp: the first offset whose timestamp is at or after the target.
    assert_eq!(
        list_offset(&broker, &topic, 0, BASE_TS + 35),
        (0, 4, BASE_TS + 90)
    );
    assert_eq!(
        list_offset(&broker, &topic, 0, BASE_TS + 25),
        (0, 1, BASE_TS + 30)
    );
    assert_eq!(list_offset(&broker, &topic, 0, BASE_TS + 91), (0, -1, -1));
}

// ---- Large records ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_record_near_max_message_bytes_when_compressed_or_not_should_round_trip() {
    let broker = TestBroker::start();
    let topic = unique_topic("nearmax");
    broker.create_topic(&topic, 1, &[]).await;
    // Just under the 1048588-byte default limit once framed.
    let raw: Vec<u8> = (0..1_048_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    produce_ok(
        &broker,
        &topic,
        0,
        batch(&[raw.clone()], &[now_ms()], Compression::None),
    );
    let over: Vec<u8> = vec![7u8; 1_048_600];
    assert_eq!(
        produce(
            &broker,
            &topic,
            0,
            batch(&[over.clone()], &[now_ms()], Compression::None)
        )
        .error_code,
        MESSAGE_TOO_LARGE
    );
    // Compressed, the same bytes fit: the limit applies to the batch as stored.
    produce_ok(
        &broker,
        &topic,
        0,
        batch(&[over.clone()], &[now_ms()], Compression::Zstd),
    );
    let msgs = broker
        .consume_n(&topic, &[0], 2, Duration::from_secs(15))
        .await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].payload(), Some(&raw[..]));
    assert_eq!(msgs[1].payload(), Some(&over[..]));
}

// ---- CreatePartitions under load ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_producer_running_when_partitions_are_added_should_use_the_new_ones() {
    let broker = TestBroker::start();
    let topic = unique_topic("grow");
    broker.create_topic(&topic, 1, &[]).await;
    let producer = broker.producer(&[
        ("linger.ms", "0"),
        ("topic.metadata.refresh.interval.ms", "300"),
    ]);
    producer
        .send(
            FutureRecord::to(&topic).key("a").payload("first"),
            Duration::from_secs(5),
        )
        .await
        .expect("first");
    let admin = broker.admin();
    let res = admin
        .create_partitions(
            &[rdkafka::admin::NewPartitions::new(&topic, 3)],
            &admin_opts(),
        )
        .await
        .expect("CreatePartitions");
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 && Instant::now() < deadline {
        for p in 0..3 {
            // Until librdkafka's next metadata refresh it refuses the new partitions locally.
            if let Ok(d) = producer
                .send(
                    FutureRecord::<(), _>::to(&topic).partition(p).payload("x"),
                    Duration::from_secs(5),
                )
                .await
            {
                seen.insert(d.partition);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 3, "every new partition accepted records");
    let msgs = broker
        .consume_n(&topic, &[1, 2], 2, Duration::from_secs(10))
        .await;
    assert!(msgs.len() >= 2);
}

/// An lz4 batch whose record i has key `keys[i]` (None: no key), value `v` and timestamp `ts[i]`.
fn lz4_batch(keys: &[Option<&str>], ts: &[i64]) -> Bytes {
    keyed_batch(keys, &vec![b"v".to_vec(); keys.len()], ts, Compression::Lz4)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_invalid_records_when_producing_should_name_each_in_record_errors_and_store_none() {
    const INVALID_TIMESTAMP: i16 = 32;
    const INVALID_RECORD: i16 = 87;
    let broker = TestBroker::start();
    let compacted = unique_topic("kip467-compact");
    broker
        .create_topic(&compacted, 1, &[("cleanup.policy", "compact")])
        .await;
    let now = now_ms();
    let p = produce(
        &broker,
        &compacted,
        0,
        lz4_batch(&[Some("a"), None, Some("b"), None], &[now; 4]),
    );
    assert_eq!(p.error_code, INVALID_RECORD, "{p:?}");
    let named: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(named, [1, 3], "{p:?}");
    let why = p.record_errors[0]
        .batch_index_error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(why.contains("without key"), "{why}");
    assert_eq!(
        broker.watermarks(&compacted, 0).1,
        0,
        "nothing of the batch stored"
    );
    produce_ok(&broker, &compacted, 0, lz4_batch(&[Some("a")], &[now]));

    let bounded = unique_topic("kip467-ts");
    broker
        .create_topic(
            &bounded,
            1,
            &[
                ("message.timestamp.before.max.ms", "60000"),
                ("message.timestamp.after.max.ms", "60000"),
            ],
        )
        .await;
    let p = produce(
        &broker,
        &bounded,
        0,
        lz4_batch(
            &[Some("a"), Some("b"), Some("c")],
            &[now, now - 3_600_000, now + 3_600_000],
        ),
    );
    assert_eq!(p.error_code, INVALID_TIMESTAMP, "{p:?}");
    let named: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(named, [1, 2], "{p:?}");
    produce_ok(&broker, &bounded, 0, lz4_batch(&[Some("a")], &[now]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_the_newest_versions_when_used_should_serve_topic_ids_and_new_fields() {
    const UNKNOWN_TOPIC_ID: i16 = 100;
    let broker = TestBroker::start();
    let topic = unique_topic("newest");
    broker.create_topic(&topic, 1, &[]).await;
    // Metadata v13: the top-level error code (none) and the topic's id.
    let meta = broker.raw_request(
        13,
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(&topic)))
        ])),
    );
    assert_eq!(meta.error_code, 0);
    let id = meta.topics[0].topic_id;
    assert!(!id.is_nil());
    // Produce v13 names the topic by id.
    let mut req = produce_request(
        "",
        0,
        batch(&values(3, 10), &[now_ms(); 3], Compression::None),
        1,
    );
    req.topic_data[0].topic_id = id;
    let resp = broker.raw_request(13, &req);
    let t = &resp.responses[0];
    assert_eq!(t.topic_id, id);
    assert_eq!(t.partition_responses[0].error_code, 0, "{resp:?}");
    assert_eq!(broker.watermarks(&topic, 0).1, 3);
    req.topic_data[0].topic_id = uuid::Uuid::new_v4();
    let resp = broker.raw_request(13, &req);
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code,
        UNKNOWN_TOPIC_ID
    );
    // ListOffsets v10: latest (-1) and latest tiered (-5: none without tiered storage).
    let list = |ts: i64| {
        let req = ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_timeout_ms(5000)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(&topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(ts)])]);
        let resp = broker.raw_request(10, &req);
        let p = &resp.topics[0].partitions[0];
        (p.error_code, p.offset)
    };
    assert_eq!(list(-1), (0, 3));
    assert_eq!(list(-5), (0, -1));
}
