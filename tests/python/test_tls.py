"""The SSL listener through kafka-python, a client that does its own protocol and TLS handling:
a broker with a PLAINTEXT and an SSL listener (self-signed certificate made with openssl), a
topic created, records produced and read back in a consumer group with a commit, all over TLS;
Metadata on the SSL listener names the SSL port."""

import socket
import ssl
import subprocess
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from conftest import _free_port, running_broker

RECORDS = 500


@pytest.fixture(scope="module")
def ssl_broker(tmp_path_factory):
    work = tmp_path_factory.mktemp("oxbow-ssl")
    cert, key = work / "server.pem", work / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    plain, secure = _free_port(), _free_port()
    config = work / "oxbow.toml"
    config.write_text(
        f'[[server.listeners]]\nname = "LOCAL"\nlisten = "127.0.0.1:{plain}"\n\n'
        f'[[server.listeners]]\nname = "SECURE"\nlisten = "127.0.0.1:{secure}"\nprotocol = "SSL"\n\n'
        f'[tls]\ncert_file = "{cert}"\nkey_file = "{key}"\n\n'
        f'[group]\ninitial_rebalance_delay_ms = 0\n'
    )
    with running_broker(work, ["--config", str(config)], secure):
        yield {"bootstrap": f"127.0.0.1:{secure}", "port": secure, "cafile": str(cert)}


def _ssl(b):
    return dict(bootstrap_servers=b["bootstrap"], security_protocol="SSL", ssl_cafile=b["cafile"],
                ssl_check_hostname=True)


def test_given_ssl_listener_when_kafka_python_produces_and_consumes_in_a_group_should_round_trip(ssl_broker):
    topic = f"py-tls-{uuid.uuid4().hex[:10]}"
    group = f"py-tls-group-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(**_ssl(ssl_broker))
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    brokers = admin.describe_cluster()["brokers"]
    assert [b["port"] for b in brokers] == [ssl_broker["port"]]
    admin.close()

    producer = KafkaProducer(acks="all", linger_ms=5, **_ssl(ssl_broker))
    for i in range(RECORDS):
        producer.send(topic, key=str(i % 7).encode(), value=f"value-{i}".encode())
    producer.flush(30)
    producer.close()

    consumer = KafkaConsumer(topic, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=20000, **_ssl(ssl_broker))
    seen = set()
    for message in consumer:
        seen.add(message.value.decode())
        if len(seen) == RECORDS:
            break
    assert seen == {f"value-{i}" for i in range(RECORDS)}
    consumer.commit()
    committed = sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in (0, 1))
    assert committed == RECORDS
    consumer.close()


def test_given_ssl_listener_when_client_speaks_plaintext_should_refuse_and_keep_serving(ssl_broker):
    # A plaintext Kafka frame on the TLS port is not a TLS handshake: the connection is dropped.
    with socket.create_connection(("127.0.0.1", ssl_broker["port"]), timeout=5) as s:
        s.sendall(b"\x00\x00\x00\x0a\x00\x12\x00\x03\x00\x00\x00\x01\x00\x00")
        s.settimeout(5)
        try:
            data = s.recv(64)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert not data.startswith(b"\x00\x00"), "no Kafka response on the TLS port"
    # The listener still serves TLS clients.
    ctx = ssl.create_default_context(cafile=ssl_broker["cafile"])
    with socket.create_connection(("127.0.0.1", ssl_broker["port"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
