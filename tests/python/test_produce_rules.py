"""Kafka's produce rules through confluent-kafka: per-record errors (KIP-467) for keyless records
on a compacted topic and timestamps outside `message.timestamp.*.max.ms`, failing exactly those
records; a topic's `compression.type` storing its codec whatever the producer used."""

import struct
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from conftest import _free_port, running_broker
from test_confluent_kafka import TIMEOUT_S, create_topic, poll_messages


def deliver(broker, topic, messages, **conf):
    """Produces each message in a batch of its own; the delivery error (or None) of each."""
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0, "batch.num.messages": 1, "retries": 0, **conf})
    results = {}
    for i, m in enumerate(messages):
        p.produce(topic, on_delivery=lambda err, msg, i=i: results.__setitem__(i, err), **m)
        p.flush(TIMEOUT_S)
    assert len(results) == len(messages)
    return [results[i] for i in range(len(messages))]


def test_given_a_compacted_topic_when_some_records_have_no_key_should_fail_exactly_those(broker, topic_name):
    create_topic(broker, topic_name, configs={"cleanup.policy": "compact"})
    messages = [{"key": b"a", "value": b"1"}, {"value": b"no key"}, {"key": b"b", "value": b"2"},
                {"value": b"no key either"}, {"key": b"a", "value": None}]
    errors = deliver(broker, topic_name, messages)
    assert [e.code() if e else None for e in errors] == [None, KafkaError.INVALID_RECORD, None,
                                                        KafkaError.INVALID_RECORD, None], errors
    c = Consumer({"bootstrap.servers": broker, "group.id": f"g-{topic_name}", "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(topic_name, 0, 0)])
        got = poll_messages(c, 3)
    finally:
        c.close()
    assert [(m.key(), m.value()) for m in got] == [(b"a", b"1"), (b"b", b"2"), (b"a", None)]


def test_given_timestamp_bounds_when_records_lie_outside_should_fail_exactly_those(broker, topic_name):
    create_topic(broker, topic_name, configs={"message.timestamp.before.max.ms": "60000",
                                              "message.timestamp.after.max.ms": "60000"})
    now = int(time.time() * 1000)
    stamps = [now, now - 3_600_000, now + 3_600_000, now - 1000]
    errors = deliver(broker, topic_name, [{"value": b"v", "timestamp": t} for t in stamps])
    assert [e.code() if e else None for e in errors] == [None, KafkaError.INVALID_TIMESTAMP,
                                                        KafkaError.INVALID_TIMESTAMP, None], errors


def segment_codecs(log_file):
    """The codec id of every batch in a segment file (attributes' low 3 bits)."""
    data = log_file.read_bytes()
    out, pos = [], 0
    while pos + 23 <= len(data):
        length = struct.unpack_from(">i", data, pos + 8)[0]
        attributes = struct.unpack_from(">h", data, pos + 21)[0]
        out.append(attributes & 7)
        pos += 12 + length
    return out


def test_given_a_topic_with_lz4_when_producers_use_other_codecs_should_store_lz4(tmp_path):
    port = _free_port()
    bootstrap = f"127.0.0.1:{port}"
    topic = f"lz4-{uuid.uuid4().hex[:8]}"
    with running_broker(tmp_path, ["--listen", bootstrap], port):
        create_topic(bootstrap, topic, configs={"compression.type": "lz4"})
        sent = []
        for codec in ("none", "gzip", "snappy", "zstd", "lz4"):
            p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20,
                          "enable.idempotence": codec == "zstd"})
            for i in range(20):
                value = f"{codec}-{i}-".encode() * 30
                p.produce(topic, key=f"k{i}".encode(), value=value, headers=[("codec", codec.encode())])
                sent.append((f"k{i}".encode(), value))
            assert p.flush(TIMEOUT_S) == 0
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
        try:
            c.assign([TopicPartition(topic, 0, 0)])
            got = poll_messages(c, len(sent))
        finally:
            c.close()
        assert [(m.key(), m.value()) for m in got] == sent
        assert [m.offset() for m in got] == list(range(len(sent)))
        codecs = segment_codecs(tmp_path / "data" / f"{topic}-0" / "00000000000000000000.log")
        assert codecs and set(codecs) == {3}, codecs
