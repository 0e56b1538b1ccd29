"""SASL/PLAIN through kafka-python (its own SASL code): the right password produces and consumes
in a group; a wrong one fails to authenticate, and the broker keeps serving."""

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from conftest import _free_port, running_broker


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    work = tmp_path_factory.mktemp("oxbow-sasl")
    port = _free_port()
    config = work / "oxbow.toml"
    config.write_text(
        '[security]\nsasl_mechanisms = ["PLAIN"]\n\n[security.plain_users]\n'
        'ledger = "ledger-secret"\n\n[group]\ninitial_rebalance_delay_ms = 0\n'
    )
    args = ["--config", str(config), "--listen", f"127.0.0.1:{port}"]
    with running_broker(work, args, port) as log_path:
        yield {"bootstrap": f"127.0.0.1:{port}", "log": log_path}


def _sasl(b, password):
    return dict(bootstrap_servers=b["bootstrap"], security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN", sasl_plain_username="ledger", sasl_plain_password=password)


def test_given_plain_credentials_when_kafka_python_produces_and_consumes_should_round_trip(sasl_broker):
    topic = f"py-sasl-{uuid.uuid4().hex[:10]}"
    producer = KafkaProducer(acks="all", **_sasl(sasl_broker, "ledger-secret"))
    for i in range(200):
        producer.send(topic, value=f"entry-{i}".encode())
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(topic, group_id=f"g-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=20000,
                             **_sasl(sasl_broker, "ledger-secret"))
    seen = set()
    for message in consumer:
        seen.add(message.value.decode())
        if len(seen) == 200:
            break
    consumer.commit()
    consumer.close()
    assert seen == {f"entry-{i}" for i in range(200)}


def test_given_wrong_password_when_kafka_python_connects_should_fail_to_authenticate(sasl_broker):
    with pytest.raises(KafkaError):
        producer = KafkaProducer(max_block_ms=5000, **_sasl(sasl_broker, "wrong"))
        producer.send("anything", value=b"x").get(timeout=5)
    assert "authentication failed" in sasl_broker["log"].read_text(errors="replace")
