"""Clients on protocol versions older than Kafka 0.11's (served as Kafka 3.9 serves them):
kafka-python pinned with `api_version` to 0.8.2, 0.9 and 0.10 sends Produce v0–v2 with message
sets (magic 0/1), fetches v0–v3 (down-converted for it alone), lists offsets with ListOffsets
v0, commits with OffsetCommit v0–v2 and fetches offsets with OffsetFetch v0–v1; its admin client
at 0.10/0.11 creates and deletes topics (v0/v1) and describes configs (v0)."""

import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from conftest import _free_port, running_broker
from test_metrics import get, sample


@pytest.fixture(scope="module")
def old(tmp_path_factory):
    work = tmp_path_factory.mktemp("oxbow-old")
    port, hport = _free_port(), _free_port()
    with running_broker(work, ["--listen", f"127.0.0.1:{port}", "--http-listen", f"127.0.0.1:{hport}"], port,
                        env={"OXBOW_HTTP_LISTEN": f"127.0.0.1:{hport}", "OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS": "0"}):
        yield {"bootstrap": f"127.0.0.1:{port}", "metrics": f"http://127.0.0.1:{hport}/metrics"}


def served(old, request, version):
    """How many requests of this API and version the broker served (its /metrics)."""
    return sample(get(old["metrics"])[2], "kafka_network_requestmetrics_requests_total",
                  request=request, version=str(version)) or 0



@pytest.mark.parametrize("api_version", [(0, 8, 2), (0, 9), (0, 10, 0), (0, 10, 1)])
def test_given_an_old_client_when_producing_consuming_and_committing_should_round_trip(old, api_version):
    broker = old["bootstrap"]
    topic = f"old-{'-'.join(map(str, api_version))}-{uuid.uuid4().hex[:6]}"
    admin_version = (0, 10, 1)
    admin = KafkaAdminClient(bootstrap_servers=broker, api_version=admin_version)
    admin.create_topics([NewTopic(topic, 2, 1)])
    producer = KafkaProducer(bootstrap_servers=broker, api_version=api_version, acks="all",
                             compression_type="gzip" if api_version >= (0, 9) else None)
    sent = []
    for i in range(30):
        key, value = f"k{i}".encode(), f"value-{i}".encode() * 3
        producer.send(topic, key=key, value=value, partition=i % 2).get(timeout=20)
        sent.append((i % 2, key, value))
    producer.close()

    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = KafkaConsumer(bootstrap_servers=broker, api_version=api_version, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10000)
    parts = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    if api_version < (0, 9):
        consumer.assign(parts)
    else:
        consumer.subscribe([topic])
    got = []
    for m in consumer:
        got.append((m.partition, m.key, m.value, m.offset))
        if len(got) == len(sent):
            break
    assert sorted((p, k, v) for p, k, v, _ in got) == sorted(sent)
    for p in (0, 1):
        assert [o for q, _, _, o in got if q == p] == list(range(15)), "offsets as assigned"
    consumer.commit()
    committed = {tp.partition: consumer.committed(tp) for tp in parts}
    consumer.close()
    assert committed == {0: 15, 1: 15}, committed

    again = KafkaConsumer(bootstrap_servers=broker, api_version=api_version, group_id=group,
                          enable_auto_commit=False)
    assert again.committed(TopicPartition(topic, 0)) == 15
    again.close()
    admin.delete_topics([topic])
    admin.close()
    # The versions these clients speak (kafka-python's choice for each broker version).
    produce, fetch, commit, fetch_offsets = {(0, 8, 2): (0, 0, 1, 1), (0, 9): (1, 1, 2, 1),
                                             (0, 10, 0): (2, 2, 2, 1), (0, 10, 1): (2, 3, 2, 1)}[api_version]
    assert served(old, "Produce", produce) > 0 and served(old, "Fetch", fetch) > 0
    assert served(old, "OffsetCommit", commit) > 0 and served(old, "OffsetFetch", fetch_offsets) > 0


def test_given_an_old_admin_client_when_describing_configs_should_answer_v0(old):
    broker = old["bootstrap"]
    topic = f"old-cfg-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=broker, api_version=(0, 11))
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"retention.ms": "3600000"})])
    result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
    configs = result["topic"][topic]
    assert configs["retention.ms"]["value"] == "3600000" and not configs["retention.ms"]["is_default"]
    assert configs["cleanup.policy"]["value"] == "delete" and configs["cleanup.policy"]["is_default"]
    admin.delete_topics([topic])
    admin.close()
    assert served(old, "DescribeConfigs", 0) > 0
    assert served(old, "CreateTopics", 2) + served(old, "CreateTopics", 1) + served(old, "CreateTopics", 0) > 0


def test_given_an_admin_client_at_kafka_1_0_when_managing_acls_and_log_dirs_should_answer_v0(tmp_path):
    """kafka-python's admin pinned to Kafka 1.0 sends CreateAcls, DescribeAcls, DeleteAcls and
    DescribeLogDirs v0 (before KIP-290's pattern types): served as LITERAL patterns."""
    from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ResourcePattern,
                             ResourcePatternFilter, ResourceType, ACLResourcePatternType)
    port, hport = _free_port(), _free_port()
    config = tmp_path / "oxbow.toml"
    config.write_text('[security]\nauthorizer = "acl"\nsuper_users = ["User:ANONYMOUS"]\n')
    with running_broker(tmp_path, ["--config", str(config), "--listen", f"127.0.0.1:{port}",
                                   "--http-listen", f"127.0.0.1:{hport}"], port,
                        env={"OXBOW_HTTP_LISTEN": f"127.0.0.1:{hport}"}):
        broker = f"127.0.0.1:{port}"
        metrics = {"metrics": f"http://127.0.0.1:{hport}/metrics"}
        topic = f"old-acl-{uuid.uuid4().hex[:6]}"
        admin = KafkaAdminClient(bootstrap_servers=broker, api_version=(1, 0, 0))
        admin.create_topics([NewTopic(topic, 2, 1)])
        acl = ACL(principal="User:alice", host="*", operation=ACLOperation.READ,
                  permission_type=ACLPermissionType.ALLOW,
                  resource_pattern=ResourcePattern(ResourceType.TOPIC, topic))
        created = admin.create_acls([acl])
        assert created["failed"] == [] and len(created["succeeded"]) == 1, created
        acl_filter = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                               permission_type=ACLPermissionType.ANY,
                               resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, topic,
                                                                      ACLResourcePatternType.LITERAL))
        found, error = admin.describe_acls(acl_filter)
        assert error.errno == 0 and [(a.principal, a.operation) for a in found] == [("User:alice", ACLOperation.READ)]
        deleted = admin.delete_acls([acl_filter])
        assert [(len(matches), err.errno) for _, matches, err in deleted] == [(1, 0)], deleted
        found, _ = admin.describe_acls(acl_filter)
        assert found == []
        dirs = admin.describe_log_dirs()
        assert str(dirs).count(topic) >= 1, dirs
        admin.close()
        for api in ("CreateAcls", "DescribeAcls", "DeleteAcls", "DescribeLogDirs"):
            assert served(metrics, api, 0) > 0, api
