"""kafka-python (a pure-Python client with its own protocol code) against oxbow."""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import MessageSizeTooLargeError, TopicAlreadyExistsError

TIMEOUT_MS = 20000


def create_topic(bootstrap, name, partitions=1, configs=None):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    try:
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
    finally:
        admin.close()


def consume_all(bootstrap, topic, partitions, expected, timeout_s=20):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out = []
        deadline = time.monotonic() + timeout_s
        while len(out) < expected and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def test_given_keys_and_headers_when_producing_should_consume_them_back(broker, topic_name):
    create_topic(broker, topic_name, partitions=2)
    producer = KafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5)
    futures = [
        producer.send(
            topic_name,
            value=f"value-{i}".encode(),
            key=f"key-{i % 5}".encode(),
            headers=[("seq", str(i).encode()), ("origin", b"python")],
        )
        for i in range(100)
    ]
    producer.send(topic_name, value=b"no-key-no-headers", partition=0)
    producer.flush()
    for f in futures:
        f.get(timeout=10)
    producer.close()

    records = consume_all(broker, topic_name, [0, 1], 101)
    assert len(records) == 101
    by_seq = {}
    for r in records:
        if r.key is None:
            assert r.value == b"no-key-no-headers"
            assert not r.headers
            continue
        headers = dict(r.headers)
        seq = int(headers["seq"])
        assert headers["origin"] == b"python"
        assert r.key == f"key-{seq % 5}".encode()
        assert r.value == f"value-{seq}".encode()
        by_seq[seq] = r
    assert sorted(by_seq) == list(range(100))
    # In order within each partition.
    for p in (0, 1):
        offsets = [r.offset for r in records if r.partition == p]
        assert offsets == list(range(len(offsets)))
        seqs = [int(dict(r.headers)["seq"]) for r in records if r.partition == p and r.key is not None]
        assert seqs == sorted(seqs)


def test_given_gzip_when_producing_should_consume_back_uncompressed(broker, topic_name):
    create_topic(broker, topic_name)
    producer = KafkaProducer(bootstrap_servers=broker, compression_type="gzip", linger_ms=20, acks="all")
    values = [(f"gzip-{i}-" + "x" * (i % 100)).encode() for i in range(500)]
    futures = [producer.send(topic_name, value=v) for v in values]
    producer.flush()
    for f in futures:
        f.get(timeout=10)
    producer.close()
    records = consume_all(broker, topic_name, [0], len(values))
    assert [r.value for r in records] == values
    assert [r.offset for r in records] == list(range(len(values)))


def test_given_admin_client_when_creating_listing_and_deleting_topics_should_reflect_each_step(broker, topic_name):
    admin = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=TIMEOUT_MS)
    try:
        admin.create_topics([NewTopic(topic_name, 3, 1, topic_configs={"retention.ms": "3600000"})])
        assert topic_name in admin.list_topics()
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic_name, 1, 1)])
        described = admin.describe_topics([topic_name])
        assert len(described) == 1
        assert len(described[0]["partitions"]) == 3
        admin.delete_topics([topic_name])
        deadline = time.monotonic() + 10
        while topic_name in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert topic_name not in admin.list_topics()
    finally:
        admin.close()


def test_given_timestamps_when_looking_up_offsets_for_times_should_find_first_at_or_after(broker, topic_name):
    create_topic(broker, topic_name)
    base = 1_600_000_000_000
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    for i in range(10):
        producer.send(topic_name, value=f"t{i}".encode(), partition=0, timestamp_ms=base + i * 1000).get(timeout=10)
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=broker, group_id=None, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic_name, 0)
        found = consumer.offsets_for_times({tp: base + 3500})
        assert found[tp].offset == 4
        assert found[tp].timestamp == base + 4000
        found = consumer.offsets_for_times({tp: base})
        assert found[tp].offset == 0
        found = consumer.offsets_for_times({tp: base + 60_000})
        assert found[tp] is None
        assert consumer.beginning_offsets([tp])[tp] == 0
        assert consumer.end_offsets([tp])[tp] == 10
    finally:
        consumer.close()


def test_given_record_over_max_message_bytes_when_producing_should_fail_cleanly(broker, topic_name):
    create_topic(broker, topic_name, configs={"max.message.bytes": "10000"})
    producer = KafkaProducer(bootstrap_servers=broker, acks="all", retries=0)
    try:
        with pytest.raises(MessageSizeTooLargeError):
            producer.send(topic_name, value=b"x" * 20000).get(timeout=10)
        # The producer and the broker carry on.
        meta = producer.send(topic_name, value=b"small").get(timeout=10)
        assert meta.offset == 0
    finally:
        producer.close()
