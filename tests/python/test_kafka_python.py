"""kafka-python (a pure-Python client with its own protocol code) against oxbow."""

import threading
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


def produce_to_partitions(bootstrap, topic, count, partitions):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for i in range(count):
            producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % partitions)
        producer.flush()
    finally:
        producer.close()


def group_consumer(bootstrap, topic, group, **extra):
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        **extra,
    )


def poll_until(consumer, wanted, timeout_s=20, max_records=None):
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < wanted and time.monotonic() < deadline:
        limit = wanted - len(out) if max_records else None
        for records in consumer.poll(timeout_ms=300, max_records=limit).values():
            out.extend(records)
    return out


def test_given_committed_group_offsets_when_a_new_consumer_subscribes_should_resume_after_them(broker, topic_name):
    create_topic(broker, topic_name, partitions=2)
    produce_to_partitions(broker, topic_name, 20, 2)
    group = f"grp-{topic_name}"

    first = group_consumer(broker, topic_name, group)
    try:
        got = poll_until(first, 8, max_records=True)
        assert len(got) == 8
        assert first.assignment() == {TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)}
        first.commit()
    finally:
        first.close()

    second = group_consumer(broker, topic_name, group)
    try:
        rest = poll_until(second, 12)
        second.commit()
    finally:
        second.close()
    seen = [(r.partition, r.offset) for r in got + rest]
    assert len(rest) == 12, "the second consumer must start at the committed offsets"
    assert sorted(seen) == sorted((p, o) for p in (0, 1) for o in range(10))

    admin = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=TIMEOUT_MS)
    try:
        offsets = admin.list_group_offsets(group)[group]
        assert {tp.partition: om.offset for tp, om in offsets.items()} == {0: 10, 1: 10}
        listed = {g["group_id"]: g for g in admin.list_groups()}
        assert listed[group]["protocol_type"] == "consumer"
        assert listed[group]["group_state"] == "Empty"
        described = admin.describe_groups([group])[group]
        assert described["error"] is None
        assert described["group_state"] == "Empty"
        assert described["members"] == []
        # kafka-python asks for authorized operations; without ACLs all group operations are allowed.
        assert sorted(described["authorized_operations"]) == ["DELETE", "DESCRIBE", "READ"]
    finally:
        admin.close()


def test_given_two_consumers_in_a_group_should_split_the_partitions_between_them(broker, topic_name):
    create_topic(broker, topic_name, partitions=4)
    produce_to_partitions(broker, topic_name, 40, 4)
    group = f"grp-{topic_name}"
    consumers = [group_consumer(broker, topic_name, group) for _ in range(2)]
    consumed = [[], []]
    stop = threading.Event()

    def run(i):
        # Each consumer polls in its own thread, as applications do: kafka-python 3.0.12 drops a
        # join result that completes while nobody is polling, so one thread alternating short
        # polls of two consumers can make them rejoin forever (a client quirk, not the broker).
        while not stop.is_set():
            for records in consumers[i].poll(timeout_ms=1000).values():
                consumed[i].extend(records)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    admin = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=TIMEOUT_MS)
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            a, b = (c.assignment() for c in consumers)
            if len(a) == 2 and len(b) == 2 and not a & b:
                break
            time.sleep(0.1)
        a, b = (c.assignment() for c in consumers)
        assert len(a) == 2 and len(b) == 2 and not a & b, (a, b)
        described = admin.describe_groups([group])[group]
        assert described["group_state"] == "Stable"
        assert described["protocol_type"] == "consumer"
        members = described["members"]
        assert len(members) == 2
        assigned = sorted(
            p for m in members for t in m["member_assignment"]["assigned_partitions"] for p in t["partitions"]
        )
        assert assigned == [0, 1, 2, 3]
        # Between them they read every record (a partition may be read twice across the rebalance:
        # nothing was committed).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if len({(r.partition, r.offset) for r in consumed[0] + consumed[1]}) == 40:
                break
            time.sleep(0.1)
        assert len({(r.partition, r.offset) for r in consumed[0] + consumed[1]}) == 40
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        for c in consumers:
            c.close()
        admin.close()


def test_given_transactions_when_consumed_read_committed_should_skip_aborted_records(broker):
    topic = f"py-txn-{time.time_ns()}"
    create_topic(broker, topic, partitions=1)
    producer = KafkaProducer(bootstrap_servers=broker, transactional_id=f"py-txn-{time.time_ns()}")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(topic, b"kept-1", partition=0)
        producer.commit_transaction()
        producer.begin_transaction()
        producer.send(topic, b"dropped", partition=0)
        producer.abort_transaction()
        producer.begin_transaction()
        producer.send(topic, b"kept-2", partition=0)
        producer.commit_transaction()
    finally:
        producer.close(timeout=5)
    consumer = KafkaConsumer(
        bootstrap_servers=broker,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        consumer_timeout_ms=2000,
    )
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        values = [r.value for r in consumer]
    finally:
        consumer.close()
    assert values == [b"kept-1", b"kept-2"]
