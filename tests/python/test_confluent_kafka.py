"""confluent-kafka (the PyPI wheel bundles its own, recent librdkafka) against oxbow."""

import time

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ConsumerGroupType,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AclOperation, AdminClient, ConfigResource, NewTopic, OffsetSpec, ResourceType

TIMEOUT_S = 20
GROUP_OPERATIONS = {AclOperation.READ, AclOperation.DELETE, AclOperation.DESCRIBE}


def admin_client(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap, name, partitions=1, configs=None):
    admin = admin_client(bootstrap)  # must outlive the futures
    for f in admin.create_topics([NewTopic(name, partitions, 1, config=configs or {})]).values():
        f.result(timeout=TIMEOUT_S)


def produce(bootstrap, topic, messages, **conf):
    """messages: dicts of Producer.produce kwargs. Returns the delivered messages in order."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    delivered, errors = [], []

    def on_delivery(err, msg):
        (errors if err else delivered).append(err or msg)

    for m in messages:
        producer.produce(topic, on_delivery=on_delivery, **m)
    assert producer.flush(TIMEOUT_S) == 0
    assert errors == []
    return delivered


def poll_messages(consumer, wanted, timeout_s=TIMEOUT_S):
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < wanted and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        out.append(msg)
    return out


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_given_compression_keys_and_headers_when_producing_idempotently_should_consume_them_back(broker, topic_name, codec):
    create_topic(broker, topic_name)
    messages = [
        {"key": f"k{i % 3}".encode(), "value": f"{codec}-{i}-".encode() * 20, "headers": [("seq", str(i).encode())]}
        for i in range(50)
    ]
    produce(broker, topic_name, messages, **{"compression.type": codec, "enable.idempotence": True})
    consumer = Consumer({"bootstrap.servers": broker, "group.id": f"assign-{topic_name}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic_name, 0, 0)])
        got = poll_messages(consumer, 50)
    finally:
        consumer.close()
    assert [m.offset() for m in got] == list(range(50))
    assert [(m.key(), m.value(), m.headers()) for m in got] == [
        (m["key"], m["value"], m["headers"]) for m in messages
    ]


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_given_committed_offsets_when_the_group_resubscribes_should_resume_after_them(broker, topic_name, protocol):
    create_topic(broker, topic_name, partitions=2)
    produce(broker, topic_name, [{"value": f"v{i}".encode(), "partition": i % 2} for i in range(20)])
    group = f"grp-{protocol}-{topic_name}"
    conf = {
        "bootstrap.servers": broker,
        "group.id": group,
        "group.protocol": protocol,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    admin = admin_client(broker)

    first = Consumer(conf)
    try:
        first.subscribe([topic_name])
        got = poll_messages(first, 8)
        assert len(got) == 8
        first.commit(asynchronous=False)
        described = admin.describe_consumer_groups([group], include_authorized_operations=True)[group].result(timeout=TIMEOUT_S)
        assert described.state == ConsumerGroupState.STABLE
        assert described.type == (ConsumerGroupType.CLASSIC if protocol == "classic" else ConsumerGroupType.CONSUMER)
        assert len(described.members) == 1
        assert len(described.members[0].assignment.topic_partitions) == 2
        assert set(described.authorized_operations) == GROUP_OPERATIONS
    finally:
        first.close()

    second = Consumer(conf)
    try:
        second.subscribe([topic_name])
        rest = poll_messages(second, 12)
        second.commit(asynchronous=False)
    finally:
        second.close()
    assert len(rest) == 12, "the second consumer must start at the committed offsets"
    assert sorted((m.partition(), m.offset()) for m in got + rest) == sorted((p, o) for p in (0, 1) for o in range(10))

    listed = admin.list_consumer_groups().result(timeout=TIMEOUT_S)
    mine = [g for g in listed.valid if g.group_id == group]
    assert len(mine) == 1 and mine[0].state == ConsumerGroupState.EMPTY
    empty = admin.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(timeout=TIMEOUT_S)
    assert group in {g.group_id for g in empty.valid}
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=TIMEOUT_S)
    assert {tp.partition: tp.offset for tp in offsets.topic_partitions} == {0: 10, 1: 10}


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_given_regex_subscription_when_matching_topics_exist_or_appear_should_read_only_those(broker, topic_name, protocol):
    prefix = f"{topic_name}-{protocol}"
    create_topic(broker, f"{prefix}-a", partitions=2)
    create_topic(broker, f"{prefix}-b")
    create_topic(broker, f"x{prefix}-a")  # matches "prefix-.*" only if the regex is not anchored
    for t in (f"{prefix}-a", f"{prefix}-b", f"x{prefix}-a"):
        produce(broker, t, [{"value": f"{t}/{i}".encode()} for i in range(4)])
    consumer = Consumer({
        "bootstrap.servers": broker,
        "group.id": f"grp-{prefix}",
        "group.protocol": protocol,
        "auto.offset.reset": "earliest",
        "topic.metadata.refresh.interval.ms": 1000,
    })
    try:
        consumer.subscribe([f"^{prefix}-.*"])
        first = poll_messages(consumer, 8)
        assert sorted(m.value().decode() for m in first) == sorted(
            f"{t}/{i}" for t in (f"{prefix}-a", f"{prefix}-b") for i in range(4)
        )
        # A topic created after subscribing joins the subscription.
        create_topic(broker, f"{prefix}-c")
        produce(broker, f"{prefix}-c", [{"value": f"{prefix}-c/{i}".encode()} for i in range(3)])
        later = poll_messages(consumer, 3, timeout_s=30)
        assert sorted(m.value().decode() for m in later) == [f"{prefix}-c/{i}" for i in range(3)]
    finally:
        consumer.close()


def test_given_admin_client_when_describing_configs_cluster_and_offsets_should_answer(broker, topic_name):
    create_topic(broker, topic_name, partitions=2, configs={"retention.ms": "3600000"})
    base = 1_600_000_000_000
    produce(broker, topic_name, [{"value": b"t", "partition": 0, "timestamp": base + i * 1000} for i in range(10)])
    admin = admin_client(broker)

    topic_configs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic_name)])
    entries = list(topic_configs.values())[0].result(timeout=TIMEOUT_S)
    assert entries["retention.ms"].value == "3600000"
    assert not entries["retention.ms"].is_default
    assert entries["cleanup.policy"].value == "delete"
    broker_configs = list(admin.describe_configs([ConfigResource(ResourceType.BROKER, "0")]).values())[0]
    assert "log.retention.ms" in broker_configs.result(timeout=TIMEOUT_S)

    # librdkafka asks for the cluster's authorized operations through Metadata v8-v10.
    cluster = admin.describe_cluster(include_authorized_operations=True).result(timeout=TIMEOUT_S)
    assert len(cluster.nodes) == 1
    assert AclOperation.DESCRIBE in cluster.authorized_operations

    tp = TopicPartition(topic_name, 0)
    specs = {
        "earliest": (OffsetSpec.earliest(), 0),
        "latest": (OffsetSpec.latest(), 10),
        "max_timestamp": (OffsetSpec.max_timestamp(), 9),
        "for_timestamp": (OffsetSpec.for_timestamp(base + 3500), 4),
    }
    for name, (spec, expected) in specs.items():
        result = admin.list_offsets({tp: spec})[tp].result(timeout=TIMEOUT_S)
        assert result.offset == expected, name


def read_values(bootstrap, topic, partitions, isolation, idle_s=2.0):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}-{isolation}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "fetch.wait.max.ms": 50,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out, last = [], time.monotonic()
        while time.monotonic() - last < idle_s:
            m = consumer.poll(0.2)
            if m is None or m.error():
                continue
            out.append(m.value().decode())
            last = time.monotonic()
        return out
    finally:
        consumer.close()


def test_given_committed_and_aborted_transactions_when_read_committed_should_see_only_committed(broker):
    topic = f"ck-txn-{time.time_ns()}"
    create_topic(broker, topic, partitions=2)
    producer = Producer({"bootstrap.servers": broker, "transactional.id": f"ck-txn-{time.time_ns()}"})
    producer.init_transactions(TIMEOUT_S)
    expected = []
    for round in range(4):
        producer.begin_transaction()
        values = [f"r{round}-{i}" for i in range(6)]
        for i, v in enumerate(values):
            producer.produce(topic, value=v, partition=i % 2)
        if round % 2 == 0:
            producer.commit_transaction(TIMEOUT_S)
            expected.extend(values)
        else:
            producer.flush(TIMEOUT_S)  # on the broker before the abort (abort purges the queue)
            producer.abort_transaction(TIMEOUT_S)
    del producer
    assert sorted(read_values(broker, topic, 2, "read_committed")) == sorted(expected)
    assert len(read_values(broker, topic, 2, "read_uncommitted")) == 24
