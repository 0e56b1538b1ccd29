"""ACLs through confluent-kafka (librdkafka) over SASL_PLAINTEXT: a super user administers topics
and ACLs; a department user is confined to its prefixed topics and groups; a host-specific DENY
overrides a prefixed ALLOW; anonymous and wrong-password clients are refused."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from conftest import _free_port, running_broker

TIMEOUT_S = 20


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory):
    work = tmp_path_factory.mktemp("oxbow-acl")
    port = _free_port()
    config = work / "oxbow.toml"
    config.write_text(
        '[security]\nsasl_mechanisms = ["PLAIN"]\nsuper_users = ["admin"]\n'
        "allow_everyone_if_no_acl_found = false\n\n"
        '[security.plain_users]\nadmin = "admin-secret"\nsales = "sales-secret"\n\n'
        "[group]\ninitial_rebalance_delay_ms = 0\n"
    )
    args = ["--config", str(config), "--listen", f"127.0.0.1:{port}"]
    with running_broker(work, args, port) as log_path:
        yield {"bootstrap": f"127.0.0.1:{port}", "log": log_path, "audit": work / "data" / "audit.log"}


def audit_events(b, timeout_s=5):
    # The audit log is written by its own thread: wait until the last expected line is there.
    import json
    deadline = time.monotonic() + timeout_s
    while True:
        lines = b["audit"].read_text().splitlines() if b["audit"].exists() else []
        events = [json.loads(line) for line in lines]
        if time.monotonic() > deadline or any(e["event"] == "acl_delete" for e in events):
            return events
        time.sleep(0.05)


def conf(b, user, password, **extra):
    return {"bootstrap.servers": b["bootstrap"], "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": password, **extra}


def produce_one(b, user, password, topic):
    p = Producer(conf(b, user, password, **{"message.timeout.ms": 5000}))
    errors = []
    p.produce(topic, value=b"v", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    return errors[0] if errors else None


def test_given_department_acls_when_clients_work_should_confine_them(acl_broker):
    b = acl_broker
    run = uuid.uuid4().hex[:6]
    sales_topic, hr_topic, secret = f"sales-{run}-orders", f"hr-{run}-payroll", f"sales-{run}-secret"
    admin = AdminClient(conf(b, "admin", "admin-secret"))
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in (sales_topic, hr_topic, secret)]).values():
        f.result(timeout=TIMEOUT_S)
    acls = [
        AclBinding(ResourceType.TOPIC, f"sales-{run}-", ResourcePatternType.PREFIXED, "User:sales", "*",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, f"sales-{run}-", ResourcePatternType.PREFIXED, "User:sales", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        # A host-specific DENY wins over the prefixed ALLOW.
        AclBinding(ResourceType.TOPIC, secret, ResourcePatternType.LITERAL, "User:sales", "127.0.0.1",
                   AclOperation.WRITE, AclPermissionType.DENY),
    ]
    for f in admin.create_acls(acls).values():
        f.result(timeout=TIMEOUT_S)
    described = admin.describe_acls(
        AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:sales", None,
                         AclOperation.ANY, AclPermissionType.ANY)).result(timeout=TIMEOUT_S)
    assert sorted(map(str, described)) == sorted(map(str, acls))
    # MATCH finds the prefixed ACL for a concrete name.
    matched = admin.describe_acls(
        AclBindingFilter(ResourceType.TOPIC, sales_topic, ResourcePatternType.MATCH, None, None,
                         AclOperation.ANY, AclPermissionType.ANY)).result(timeout=TIMEOUT_S)
    assert len(matched) == 1 and matched[0].resource_pattern_type == ResourcePatternType.PREFIXED

    assert produce_one(b, "sales", "sales-secret", sales_topic) is None
    err = produce_one(b, "sales", "sales-secret", hr_topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    err = produce_one(b, "sales", "sales-secret", secret)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # Metadata shows the department only its own topics.
    sales_admin = AdminClient(conf(b, "sales", "sales-secret"))
    visible = set(sales_admin.list_topics(timeout=TIMEOUT_S).topics)
    assert sales_topic in visible and secret in visible and hr_topic not in visible

    def consume(group):
        c = Consumer(conf(b, "sales", "sales-secret", **{"group.id": group, "auto.offset.reset": "earliest",
                                                       "enable.auto.commit": False}))
        c.subscribe([sales_topic])
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                if m.error():
                    return m.error()
                c.commit(message=m, asynchronous=False)
                return m
        finally:
            c.close()

    got = consume(f"sales-{run}-readers")
    assert not isinstance(got, KafkaError) and got.value() == b"v"
    refused = consume(f"hr-{run}-readers")
    assert isinstance(refused, KafkaError) and refused.code() == KafkaError.GROUP_AUTHORIZATION_FAILED

    # The department cannot administer ACLs; deleting them (as admin) reopens nothing it lacked.
    denied = sales_admin.create_acls([acls[0]])
    with pytest.raises(KafkaException):
        list(denied.values())[0].result(timeout=TIMEOUT_S)
    deleted = admin.delete_acls([AclBindingFilter(ResourceType.TOPIC, secret, ResourcePatternType.LITERAL,
                                                  None, None, AclOperation.ANY, AclPermissionType.ANY)])
    assert len(list(deleted.values())[0].result(timeout=TIMEOUT_S)) == 1
    assert produce_one(b, "sales", "sales-secret", secret) is None

    # Each of these is in the audit log, with who, from where and the outcome.
    events = audit_events(b)
    def has(event, outcome, **fields):
        return any(e["event"] == event and e["outcome"] == outcome
                   and all(e.get(k) == v for k, v in fields.items()) for e in events)
    assert has("authentication", "success", authenticated_as="User:sales")
    assert has("acl_create", "success", principal="User:admin")
    assert has("acl_delete", "success", principal="User:admin")
    assert has("topic_create", "success", principal="User:admin", topic=hr_topic)
    assert has("authorization", "denied", principal="User:sales", resource_name=hr_topic)
    assert has("authorization", "denied", principal="User:sales", resource_type="Group",
               resource_name=f"hr-{run}-readers")
    assert all(e["peer"].startswith("127.0.0.1:") and e["listener"] for e in events)


def test_given_anonymous_or_wrong_password_when_connecting_should_be_refused(acl_broker):
    b = acl_broker
    p = Producer({"bootstrap.servers": b["bootstrap"], "message.timeout.ms": 3000})
    errors = []
    p.produce("anything", value=b"x", on_delivery=lambda err, msg: errors.append(err))
    p.flush(6)
    assert errors and errors[0] is not None
    err = produce_one(b, "sales", "wrong", "anything")
    assert err is not None
    import json
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = [json.loads(line) for line in b["audit"].read_text().splitlines()]
        if any(e["event"] == "authentication" and e["outcome"] == "failure" for e in events):
            break
        time.sleep(0.05)
    else:
        pytest.fail("no audit line for the failed authentication")
