"""KIP-848 consumers (`group.protocol=consumer`, librdkafka in confluent-kafka) committing the
ways real applications do — with `assign()` and a group id, by auto-commit, with metadata, for
partitions they are not assigned, across a reassignment — and per-group configs on the GROUP
resource (DescribeConfigs / IncrementalAlterConfigs), as Kafka 4.0 serves them."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from test_confluent_kafka import TIMEOUT_S, admin_client, create_topic, poll_messages, produce


def consumer(broker, group, **conf):
    return Consumer({"bootstrap.servers": broker, "group.id": group, "group.protocol": "consumer",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})


def committed(broker, group, parts):
    """The group's committed offsets as a fresh classic-protocol reader sees them."""
    c = Consumer({"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False})
    try:
        return {(tp.topic, tp.partition): (tp.offset, tp.metadata) for tp in c.committed(parts, timeout=TIMEOUT_S)}
    finally:
        c.close()


def test_given_an_assign_only_consumer_when_committing_with_metadata_should_store_them(broker, topic_name):
    create_topic(broker, topic_name, partitions=2)
    produce(broker, topic_name, [{"value": b"v", "partition": i % 2} for i in range(10)])
    group = f"assign-{uuid.uuid4().hex[:8]}"
    c = consumer(broker, group)
    try:
        c.assign([TopicPartition(topic_name, 0, 0), TopicPartition(topic_name, 1, 0)])
        assert len(poll_messages(c, 10)) == 10
        result = c.commit(offsets=[TopicPartition(topic_name, 0, 5, metadata="batch-7"),
                                   TopicPartition(topic_name, 1, 4)], asynchronous=False)
        assert all(tp.error is None for tp in result), result
    finally:
        c.close()
    got = committed(broker, group, [TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)])
    assert got == {(topic_name, 0): (5, "batch-7"), (topic_name, 1): (4, None)} or \
        got == {(topic_name, 0): (5, "batch-7"), (topic_name, 1): (4, "")}, got


def test_given_an_assign_only_consumer_with_auto_commit_when_closing_should_have_committed(broker, topic_name):
    create_topic(broker, topic_name)
    produce(broker, topic_name, [{"value": b"v"} for _ in range(7)])
    group = f"auto-{uuid.uuid4().hex[:8]}"
    c = consumer(broker, group, **{"enable.auto.commit": True, "auto.commit.interval.ms": 200})
    try:
        c.assign([TopicPartition(topic_name, 0, 0)])
        assert len(poll_messages(c, 7)) == 7
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            c.poll(0.1)
            if c.committed([TopicPartition(topic_name, 0)], timeout=TIMEOUT_S)[0].offset == 7:
                break
    finally:
        c.close()
    assert committed(broker, group, [TopicPartition(topic_name, 0)])[(topic_name, 0)][0] == 7


def test_given_a_member_when_committing_partitions_it_is_not_assigned_should_store_them(broker, topic_name):
    create_topic(broker, topic_name)
    other = f"{topic_name}-other"
    create_topic(broker, other, partitions=3)
    produce(broker, topic_name, [{"value": b"v"} for _ in range(3)])
    group = f"unassigned-{uuid.uuid4().hex[:8]}"
    c = consumer(broker, group)
    try:
        c.subscribe([topic_name])
        assert len(poll_messages(c, 3)) == 3
        result = c.commit(offsets=[TopicPartition(other, 2, 11)], asynchronous=False)
        assert result[0].error is None, result
        # A topic that does not exist: UNKNOWN_TOPIC_OR_PARTITION for it, as Kafka answers.
        with pytest.raises(KafkaException) as e:
            c.commit(offsets=[TopicPartition(f"{topic_name}-missing", 0, 1)], asynchronous=False)
        assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, e.value
    finally:
        c.close()
    assert committed(broker, group, [TopicPartition(other, 2)])[(other, 2)][0] == 11


def test_given_a_paused_member_when_the_group_is_reassigned_should_commit_after_resume(broker, topic_name):
    create_topic(broker, topic_name, partitions=4)
    produce(broker, topic_name, [{"value": b"v", "partition": i % 4} for i in range(40)])
    group = f"pause-{uuid.uuid4().hex[:8]}"
    first = consumer(broker, group)
    second = None
    try:
        first.subscribe([topic_name])
        assert len(poll_messages(first, 40)) == 40
        mine = first.assignment()
        first.pause(mine)
        second = consumer(broker, group)
        second.subscribe([topic_name])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(first.assignment()) == 4:
            first.poll(0.1)
            second.poll(0.1)
        assert 0 < len(first.assignment()) < 4, "the second member took some partitions"
        first.resume(first.assignment())
        first.poll(0.5)
        result = first.commit(asynchronous=False)
        assert all(tp.error is None for tp in result), result
        for tp in result:
            assert tp.offset == 10
    finally:
        first.close()
        if second is not None:
            second.close()


def test_given_group_configs_when_altered_should_describe_them_and_survive_a_sigkill(tmp_path):
    from conftest import _free_port, running_broker, sigkill
    port = _free_port()
    broker = f"127.0.0.1:{port}"
    group = f"cfg-{uuid.uuid4().hex[:8]}"
    with running_broker(tmp_path, ["--listen", broker], port) as log:
        admin = admin_client(broker)
        res = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
            ConfigEntry("consumer.session.timeout.ms", "50000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("consumer.heartbeat.interval.ms", "6000", incremental_operation=AlterConfigOpType.SET),
        ])
        for f in admin.incremental_alter_configs([res]).values():
            f.result(timeout=TIMEOUT_S)
        # Out of bounds or unknown: INVALID_CONFIG, nothing changed.
        for key, value in (("consumer.heartbeat.interval.ms", "60000"), ("consumer.nonsense", "1"),
                           ("consumer.session.timeout.ms", "1000")):
            bad = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
            with pytest.raises(KafkaException) as e:
                for f in admin.incremental_alter_configs([bad]).values():
                    f.result(timeout=TIMEOUT_S)
            assert e.value.args[0].code() == KafkaError.INVALID_CONFIG, e.value
        sigkill(log)
    with running_broker(tmp_path, ["--listen", broker], port):
        admin = admin_client(broker)
        described = admin.describe_configs([ConfigResource(ResourceType.GROUP, group)])
        entries = list(described.values())[0].result(timeout=TIMEOUT_S)
        assert entries["consumer.session.timeout.ms"].value == "50000"
        assert entries["consumer.heartbeat.interval.ms"].value == "6000"
        assert not entries["consumer.session.timeout.ms"].is_default
        other = list(admin.describe_configs([ConfigResource(ResourceType.GROUP, "untouched")]).values())[0]
        defaults = other.result(timeout=TIMEOUT_S)
        assert defaults["consumer.session.timeout.ms"].value == "45000" and defaults["consumer.session.timeout.ms"].is_default
        # The group still works with its configs (the interval a member is told is checked in
        # groups_admin.rs with a raw ConsumerGroupHeartbeat).
        create_topic(broker, f"{group}-t")
        produce(broker, f"{group}-t", [{"value": b"v"}])
        c = consumer(broker, group)
        try:
            c.subscribe([f"{group}-t"])
            assert len(poll_messages(c, 1)) == 1
            d = admin.describe_consumer_groups([group])[group].result(timeout=TIMEOUT_S)
            assert len(d.members) == 1
        finally:
            c.close()
