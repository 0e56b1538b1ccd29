"""Client quotas through confluent-kafka (librdkafka) and the `oxbow quota` CLI: a consumer whose
client id is held to a fetch byte rate reads at that rate (it sees `throttle_time_ms` in its
statistics) and misses nothing; quotas are listed and removed with the CLI."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from conftest import REPO, _free_port, running_broker

RATE = 400_000
VALUE = 1000
RECORDS = 2400


def oxbow(*args, properties):
    binary = Path(os.environ.get("OXBOW_BIN", REPO / "target" / "debug" / "oxbow"))
    bootstrap = properties.read_text().split("bootstrap.servers=")[1].split()[0]
    out = subprocess.run([str(binary), *args, "--bootstrap", bootstrap, "--command-config", str(properties)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"oxbow {' '.join(args)}: {out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def quota_broker(tmp_path_factory):
    work = tmp_path_factory.mktemp("oxbow-quota")
    port = _free_port()
    config = work / "oxbow.toml"
    config.write_text(
        '[security]\nsasl_mechanisms = ["PLAIN"]\nsuper_users = ["admin"]\n'
        "allow_everyone_if_no_acl_found = true\naudit_topic = \"audit-log\"\n\n"
        '[security.plain_users]\nadmin = "admin-secret"\nreader = "reader-secret"\n\n'
        "[group]\ninitial_rebalance_delay_ms = 0\n"
    )
    props = work / "admin.properties"
    props.write_text(
        f"bootstrap.servers=127.0.0.1:{port}\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required '
        'username="admin" password="admin-secret";\n'
    )
    args = ["--config", str(config), "--listen", f"127.0.0.1:{port}"]
    with running_broker(work, args, port) as log_path:
        yield {"bootstrap": f"127.0.0.1:{port}", "log": log_path, "props": props,
               "audit": work / "data" / "audit.log"}


def conf(b, user, password, **extra):
    return {"bootstrap.servers": b["bootstrap"], "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": password, **extra}


def test_given_fetch_quota_on_client_id_when_consuming_should_read_at_that_rate(quota_broker):
    b = quota_broker
    topic = f"quota-{uuid.uuid4().hex[:8]}"
    out = oxbow("quota", "set", "--client-id", "slow-reader", "--consumer-byte-rate", str(RATE),
                properties=b["props"])
    assert "client-id=slow-reader" in out
    listed = oxbow("quota", "list", properties=b["props"])
    assert f"client-id=slow-reader  consumer_byte_rate={RATE}" in listed, listed

    p = Producer(conf(b, "admin", "admin-secret", **{"linger.ms": 5, "batch.size": 16384}))
    for i in range(RECORDS):
        p.produce(topic, value=b"x" * VALUE)
    assert p.flush(30) == 0

    throttles = []
    c = Consumer(conf(b, "reader", "reader-secret", **{
        "group.id": f"g-{topic}", "client.id": "slow-reader", "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "fetch.max.bytes": 65536, "message.max.bytes": 65536, "max.partition.fetch.bytes": 65536,
        "statistics.interval.ms": 500,
        "stats_cb": lambda s: throttles.extend(
            br["throttle"]["max"] for br in json.loads(s)["brokers"].values()
            if br.get("nodeid", -1) >= 0),
    }))
    c.subscribe([topic])
    seen, marks = 0, {}
    deadline = time.monotonic() + 60
    while seen < RECORDS and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is None or m.error():
            assert m is None, m.error()
            continue
        seen += 1
        if seen in (RECORDS // 4, RECORDS):
            marks[seen] = time.monotonic()
    c.poll(1.0)  # one more statistics round
    c.close()
    assert seen == RECORDS, f"read {seen} of {RECORDS}"
    rate = (RECORDS - RECORDS // 4) * VALUE / (marks[RECORDS] - marks[RECORDS // 4])
    print(f"fetch quota {RATE} B/s: read {rate:.0f} B/s of values")
    assert abs(rate - RATE) / RATE <= 0.10, f"read at {rate:.0f} B/s, quota {RATE}"
    assert max(throttles, default=0) > 0, "the client saw throttle_time_ms"

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = [json.loads(line) for line in b["audit"].read_text().splitlines()]
        if any(e["event"] == "quota_throttle" for e in events):
            break
        time.sleep(0.05)
    throttled = [e for e in events if e["event"] == "quota_throttle"]
    assert throttled and throttled[0]["client_id"] == "slow-reader"
    assert throttled[0]["quota"] == "consumer_byte_rate"
    assert throttled[0]["entity"] == "client-id=slow-reader"
    assert any(e["event"] == "quota_alter" and e["principal"] == "User:admin" for e in events)

    # The same lines are in the audit topic, keyed by principal; nobody may write to it.
    a = Consumer(conf(b, "admin", "admin-secret", **{"group.id": f"audit-{topic}",
                                                    "auto.offset.reset": "earliest"}))
    a.subscribe(["audit-log"])
    copied, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline and not any(e["event"] == "quota_throttle" for e in copied):
        m = a.poll(1.0)
        if m is not None and not m.error():
            copied.append(json.loads(m.value()))
            assert m.key().decode() == copied[-1]["principal"]
    a.close()
    assert any(e["event"] == "quota_alter" for e in copied), copied
    assert any(e["event"] == "quota_throttle" and e["client_id"] == "slow-reader" for e in copied)
    forged = []
    fp = Producer(conf(b, "admin", "admin-secret", **{"message.timeout.ms": 5000}))
    fp.produce("audit-log", value=b"{}", on_delivery=lambda err, msg: forged.append(err))
    fp.flush(10)
    assert forged and forged[0] is not None, "the audit topic is not writable by clients"

    oxbow("quota", "set", "--client-id", "slow-reader", "--remove", "consumer_byte_rate",
          properties=b["props"])
    assert oxbow("quota", "list", properties=b["props"]).strip() == "no quotas"


def test_given_bad_quota_when_setting_should_be_refused_with_a_reason(quota_broker):
    b = quota_broker
    binary = Path(os.environ.get("OXBOW_BIN", REPO / "target" / "debug" / "oxbow"))
    out = subprocess.run([str(binary), "quota", "set", "--user", "x", "--request-percentage=-5",
                          "--bootstrap", b["bootstrap"], "--command-config", str(b["props"])],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "request_percentage must be a positive number" in out.stderr
