"""The schema registry through confluent-kafka's own SchemaRegistryClient and its Avro and JSON
serializers: records produced through Oxbow with schema ids and read back; evolution accepted
under BACKWARD and refused with a reason; soft and hard deletes; per-subject config; READONLY and
IMPORT modes; references; state surviving SIGKILL."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import REPO, _free_port, _tail, running_broker

PAYMENT_V1 = json.dumps({"type": "record", "name": "Payment", "namespace": "bank", "fields": [
    {"name": "id", "type": "string"}, {"name": "amount", "type": "long"}]})
PAYMENT_V2 = json.dumps({"type": "record", "name": "Payment", "namespace": "bank", "fields": [
    {"name": "id", "type": "string"}, {"name": "amount", "type": "long"},
    {"name": "currency", "type": "string", "default": "EUR"}]})
PAYMENT_BAD = json.dumps({"type": "record", "name": "Payment", "namespace": "bank", "fields": [
    {"name": "id", "type": "string"}, {"name": "amount", "type": "long"},
    {"name": "branch", "type": "string"}]})


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("oxbow-registry")
    port, rport = _free_port(), _free_port()
    args = ["--listen", f"127.0.0.1:{port}", "--registry-listen", f"127.0.0.1:{rport}"]
    with running_broker(work, args, port, env={"OXBOW_REGISTRY_LISTEN": f"127.0.0.1:{rport}"}) as log:
        wait_http(f"http://127.0.0.1:{rport}/subjects", log)
        yield {"bootstrap": f"127.0.0.1:{port}", "url": f"http://127.0.0.1:{rport}", "log": log}


def wait_http(url, log, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                pytest.fail(f"registry not answering at {url}:\n{_tail(log)}")
            time.sleep(0.05)


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_given_avro_serializer_when_producing_through_oxbow_should_round_trip_with_schema_ids(registry):
    topic = f"payments-{uuid.uuid4().hex[:6]}"
    client = SchemaRegistryClient({"url": registry["url"]})
    ser = AvroSerializer(client, PAYMENT_V1)
    p = Producer({"bootstrap.servers": registry["bootstrap"]})
    ctx = SerializationContext(topic, MessageField.VALUE)
    sent = [{"id": f"p{i}", "amount": i * 100} for i in range(20)]
    for rec in sent:
        p.produce(topic, value=ser(rec, ctx))
    assert p.flush(20) == 0
    # The serializer registered the schema under <topic>-value.
    latest = client.get_latest_version(f"{topic}-value")
    assert latest.version == 1 and latest.schema.schema_type == "AVRO"
    de = AvroDeserializer(client)
    c = Consumer({"bootstrap.servers": registry["bootstrap"], "group.id": f"g-{topic}",
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + 30
    while len(got) < len(sent) and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        assert m.value()[0] == 0 and int.from_bytes(m.value()[1:5], "big") == latest.schema_id
        got.append(de(m.value(), ctx))
    c.close()
    assert got == sent


def test_given_subject_when_evolving_should_accept_defaults_and_explain_rejections(registry):
    client = SchemaRegistryClient({"url": registry["url"]})
    subject = f"evolve-{uuid.uuid4().hex[:6]}-value"
    id1 = client.register_schema(subject, Schema(PAYMENT_V1, "AVRO"))
    assert client.register_schema(subject, Schema(PAYMENT_V1, "AVRO")) == id1, "idempotent"
    id2 = client.register_schema(subject, Schema(PAYMENT_V2, "AVRO"))
    assert id2 != id1
    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema(subject, Schema(PAYMENT_BAD, "AVRO"))
    assert e.value.http_status_code == 409 and e.value.error_code == 409
    assert "field 'branch' added without a default" in e.value.error_message
    status, verdict = http("POST", f"{registry['url']}/compatibility/subjects/{subject}/versions/latest?verbose=true",
                           {"schema": PAYMENT_BAD})
    assert status == 200 and verdict["is_compatible"] is False
    assert any("READER_FIELD_MISSING_DEFAULT_VALUE" in m and "branch" in m for m in verdict["messages"])
    assert client.test_compatibility(subject, Schema(PAYMENT_V2, "AVRO")) is True
    # Per-subject config lets it in.
    client.set_compatibility(subject, "NONE")
    assert client.get_compatibility(subject) == "NONE"
    assert client.register_schema(subject, Schema(PAYMENT_BAD, "AVRO")) > id2
    assert client.get_versions(subject) == [1, 2, 3]
    # An unknown subject, version and id answer Confluent's codes.
    with pytest.raises(SchemaRegistryError) as e:
        client.get_versions("no-such-subject")
    assert e.value.error_code == 40401
    with pytest.raises(SchemaRegistryError) as e:
        client.get_version(subject, 99)
    assert e.value.error_code == 40402
    with pytest.raises(SchemaRegistryError) as e:
        client.get_schema(987654)
    assert e.value.error_code == 40403
    status, body = http("POST", f"{registry['url']}/subjects/{subject}/versions", {"schema": "{not json"})
    assert status == 422 and body["error_code"] == 42201


def test_given_subject_when_deleting_should_soft_delete_then_hard_delete(registry):
    client = SchemaRegistryClient({"url": registry["url"]})
    subject = f"del-{uuid.uuid4().hex[:6]}"
    sid = client.register_schema(subject, Schema(PAYMENT_V1, "AVRO"))
    with pytest.raises(SchemaRegistryError) as e:
        client.delete_subject(subject, permanent=True)
    assert e.value.error_code == 40405, "hard delete needs a soft delete first"
    assert client.delete_subject(subject) == [1]
    assert subject not in client.get_subjects()
    assert client.get_schema(sid).schema_str, "still readable by id after a soft delete"
    status, listed = http("GET", f"{registry['url']}/subjects?deleted=true")
    assert subject in listed
    assert client.delete_subject(subject, permanent=True) == [1]
    status, listed = http("GET", f"{registry['url']}/subjects?deleted=true")
    assert subject not in listed


def test_given_modes_when_writing_should_refuse_readonly_and_keep_ids_in_import(registry):
    client = SchemaRegistryClient({"url": registry["url"]})
    ro = f"ro-{uuid.uuid4().hex[:6]}"
    client.update_mode(ro, "READONLY")
    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema(ro, Schema(PAYMENT_V1, "AVRO"))
    assert e.value.error_code == 42205
    imp = f"imp-{uuid.uuid4().hex[:6]}"
    assert http("PUT", f"{registry['url']}/mode/{imp}", {"mode": "IMPORT"}) == (200, {"mode": "IMPORT"})
    status, body = http("POST", f"{registry['url']}/subjects/{imp}/versions",
                        {"schema": PAYMENT_V2, "id": 5000, "version": 4})
    assert (status, body) == (200, {"id": 5000})
    v = client.get_version(imp, 4)
    assert v.schema_id == 5000
    assert client.get_schema(5000).schema_str


def test_given_references_when_deleting_the_referenced_schema_should_refuse(registry):
    client = SchemaRegistryClient({"url": registry["url"]})
    run = uuid.uuid4().hex[:6]
    address = json.dumps({"type": "record", "name": "Address", "namespace": "shop",
                          "fields": [{"name": "city", "type": "string"}]})
    customer = json.dumps({"type": "record", "name": "Customer", "namespace": "shop",
                           "fields": [{"name": "home", "type": "shop.Address"}]})
    client.register_schema(f"address-{run}", Schema(address, "AVRO"))
    cid = client.register_schema(f"customer-{run}", Schema(
        customer, "AVRO", [SchemaReference("shop.Address", f"address-{run}", 1)]))
    assert client.get_referenced_by(f"address-{run}", 1) == [cid]
    with pytest.raises(SchemaRegistryError) as e:
        client.delete_subject(f"address-{run}")
    assert e.value.error_code == 42206
    got = client.get_schema(cid)
    assert got.references[0].subject == f"address-{run}"


def test_given_json_serializer_when_producing_should_round_trip(registry):
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    schema = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order",
                         "type": "object", "properties": {"id": {"type": "integer"}, "item": {"type": "string"}},
                         "required": ["id"]})
    client = SchemaRegistryClient({"url": registry["url"]})
    ser = JSONSerializer(schema, client)
    ctx = SerializationContext(topic, MessageField.VALUE)
    p = Producer({"bootstrap.servers": registry["bootstrap"]})
    p.produce(topic, value=ser({"id": 7, "item": "wheel"}, ctx))
    assert p.flush(20) == 0
    assert client.get_latest_version(f"{topic}-value").schema.schema_type == "JSON"
    de = JSONDeserializer(None, schema_registry_client=client)
    c = Consumer({"bootstrap.servers": registry["bootstrap"], "group.id": f"g-{topic}",
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    deadline, got = time.monotonic() + 30, None
    while got is None and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            got = de(m.value(), ctx)
    c.close()
    assert got == {"id": 7, "item": "wheel"}


def test_given_registry_state_when_broker_is_sigkilled_should_keep_everything(tmp_path):
    binary = Path(os.environ.get("OXBOW_BIN", REPO / "target" / "debug" / "oxbow"))
    port, rport = _free_port(), _free_port()
    url = f"http://127.0.0.1:{rport}"
    log_path = tmp_path / "broker.log"

    def start():
        log = open(log_path, "ab")
        proc = subprocess.Popen([str(binary), "serve", "--data-dir", str(tmp_path / "data"), "--http-listen", "127.0.0.1:0",
                                 "--listen", f"127.0.0.1:{port}", "--registry-listen", f"127.0.0.1:{rport}"],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_http(f"{url}/subjects", log_path)
        return proc

    proc = start()
    try:
        client = SchemaRegistryClient({"url": url})
        sid = client.register_schema("kept-value", Schema(PAYMENT_V1, "AVRO"))
        client.register_schema("kept-value", Schema(PAYMENT_V2, "AVRO"))
        client.set_compatibility("kept-value", "FULL")
        client.register_schema("gone", Schema(PAYMENT_V1, "AVRO"))
        client.delete_subject("gone")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc = start()
        client = SchemaRegistryClient({"url": url})
        assert client.get_versions("kept-value") == [1, 2]
        assert client.get_schema(sid).schema_str
        assert client.get_compatibility("kept-value") == "FULL"
        assert "gone" not in client.get_subjects()
        # Ids go on from where they were.
        assert client.register_schema("new", Schema('"string"', "AVRO")) > sid + 1
    finally:
        proc.kill()
        proc.wait(10)


def customer_class():
    """shop.Customer, importing common/address.proto and google/protobuf/timestamp.proto, built
    at run time (no protoc needed)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
    pool = descriptor_pool.DescriptorPool()
    ts = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(ts)
    pool.Add(ts)
    address = descriptor_pb2.FileDescriptorProto(name="common/address.proto", package="shop", syntax="proto3")
    m = address.message_type.add(name="Address")
    m.field.add(name="city", number=1, type=9, label=1, json_name="city")
    pool.Add(address)
    customer = descriptor_pb2.FileDescriptorProto(
        name="shop/customer.proto", package="shop", syntax="proto3",
        dependency=["common/address.proto", "google/protobuf/timestamp.proto"])
    c = customer.message_type.add(name="Customer")
    c.field.add(name="name", number=1, type=9, label=1, json_name="name")
    c.field.add(name="home", number=2, type=11, label=1, type_name=".shop.Address", json_name="home")
    c.field.add(name="since", number=3, type=11, label=1, type_name=".google.protobuf.Timestamp", json_name="since")
    pool.Add(customer)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Customer"))


def test_given_protobuf_serializer_when_producing_should_register_references_and_round_trip(registry):
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
    Customer = customer_class()
    topic = f"customers-{uuid.uuid4().hex[:6]}"
    client = SchemaRegistryClient({"url": registry["url"]})
    ser = ProtobufSerializer(Customer, client, {"use.deprecated.format": False})
    ctx = SerializationContext(topic, MessageField.VALUE)
    msg = Customer(name="ana")
    msg.home.city = "Lyon"
    msg.since.seconds = 1_700_000_000
    p = Producer({"bootstrap.servers": registry["bootstrap"]})
    p.produce(topic, value=ser(msg, ctx))
    assert p.flush(20) == 0
    # The import was registered under its own path; the main schema refers to it.
    assert "common/address.proto" in client.get_subjects()
    latest = client.get_latest_version(f"{topic}-value")
    assert latest.schema.schema_type == "PROTOBUF"
    assert [r.name for r in latest.schema.references] == ["common/address.proto"]
    assert "message Customer" in latest.schema.schema_str, "stored as .proto text"
    de = ProtobufDeserializer(Customer, {"use.deprecated.format": False}, client)
    c = Consumer({"bootstrap.servers": registry["bootstrap"], "group.id": f"g-{topic}",
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    deadline, got = time.monotonic() + 30, None
    while got is None and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            got = de(m.value(), ctx)
    c.close()
    assert got == msg
    # A wire-incompatible change is refused with the field named.
    changed = latest.schema.schema_str.replace("string name = 1;", "int64 name = 1;")
    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema(f"{topic}-value", Schema(changed, "PROTOBUF", latest.schema.references))
    assert e.value.error_code == 409 and "'name' (1)" in e.value.error_message
    # Deleting the referenced import is refused while the customer schema uses it.
    with pytest.raises(SchemaRegistryError) as e:
        client.delete_subject("common/address.proto")
    assert e.value.error_code == 42206


def test_given_value_schema_validation_when_producing_should_refuse_unframed_and_unknown_ids(registry):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = f"validated-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": registry["bootstrap"]})
    admin.create_topics([NewTopic(topic, 1, 1, config={"confluent.value.schema.validation": "true"})])[topic].result(20)
    client = SchemaRegistryClient({"url": registry["url"]})
    ser = AvroSerializer(client, PAYMENT_V1)
    ctx = SerializationContext(topic, MessageField.VALUE)
    other = client.register_schema(f"elsewhere-{uuid.uuid4().hex[:6]}", Schema('"int"', "AVRO"))
    results = {}

    def produce(name, value):
        p = Producer({"bootstrap.servers": registry["bootstrap"], "message.timeout.ms": 10000, "retries": 0})
        p.produce(topic, value=value, on_delivery=lambda err, msg: results.__setitem__(name, err))
        p.flush(15)

    produce("valid", ser({"id": "ok", "amount": 1}, ctx))
    produce("unframed", b'{"id":"x","amount":1}')
    produce("unknown-id", b"\x00" + (999999).to_bytes(4, "big") + b"\x02")
    produce("wrong-subject", b"\x00" + other.to_bytes(4, "big") + b"\x02")
    assert results["valid"] is None, results["valid"]
    for name in ("unframed", "unknown-id", "wrong-subject"):
        err = results[name]
        assert err is not None and err.code() == KafkaError.INVALID_RECORD, (name, err)
    # Only the valid record is in the topic.
    c = Consumer({"bootstrap.servers": registry["bootstrap"], "group.id": f"g-{topic}",
                  "auto.offset.reset": "earliest"})
    lo, hi = c.get_watermark_offsets(__import__("confluent_kafka").TopicPartition(topic, 0), timeout=10)
    c.close()
    assert (lo, hi) == (0, 1)


def test_given_basic_authentication_when_users_call_should_apply_the_bus_users_acls_and_audit(tmp_path):
    """`[registry] authentication = "basic"`: HTTP Basic with the bus's PLAIN and SCRAM users;
    a subject's permissions are its topic's ACLs (managed with `oxbow acl`), effective at once."""
    binary = Path(os.environ.get("OXBOW_BIN", REPO / "target" / "debug" / "oxbow"))
    port, rport = _free_port(), _free_port()
    (tmp_path / "oxbow.toml").write_text(
        '[security]\nsasl_mechanisms = ["PLAIN", "SCRAM-SHA-512"]\nsuper_users = ["admin"]\n\n'
        '[security.plain_users]\nadmin = "admin-secret"\n\n'
        f'[registry]\nlisten = "127.0.0.1:{rport}"\nauthentication = "basic"\n')
    props = tmp_path / "admin.properties"
    props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                     'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required '
                     'username="admin" password="admin-secret";\n')
    url = f"http://127.0.0.1:{rport}"

    def cli(*args):
        out = subprocess.run([str(binary), *args, "--bootstrap", f"127.0.0.1:{port}", "--command-config", str(props)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr

    with running_broker(tmp_path, ["--config", str(tmp_path / "oxbow.toml"), "--listen", f"127.0.0.1:{port}"],
                        port, env={"OXBOW_REGISTRY_LISTEN": f"127.0.0.1:{rport}"}) as log:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/subjects", timeout=1)
            except urllib.error.HTTPError as e:
                assert e.code == 401, "no credentials: 401"
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, _tail(log)
                time.sleep(0.05)
        cli("user", "add", "ana", "--password", "ana-secret", "--mechanism", "SCRAM-SHA-512")
        admin = SchemaRegistryClient({"url": url, "basic.auth.user.info": "admin:admin-secret"})
        ana = SchemaRegistryClient({"url": url, "basic.auth.user.info": "ana:ana-secret"})
        wrong = SchemaRegistryClient({"url": url, "basic.auth.user.info": "ana:guess"})
        sid = admin.register_schema("sales-orders-value", Schema(PAYMENT_V1, "AVRO"))
        admin.register_schema("hr-payroll-value", Schema(PAYMENT_V1, "AVRO"))
        with pytest.raises(SchemaRegistryError) as e:
            wrong.get_subjects()
        assert e.value.http_status_code == 401
        # No ACL yet: ana sees nothing and may not read.
        assert ana.get_subjects() == []
        with pytest.raises(SchemaRegistryError) as e:
            ana.get_latest_version("sales-orders-value")
        assert e.value.http_status_code == 403 and e.value.error_code == 40301
        cli("acl", "add", "--allow-principal", "User:ana", "--operation", "read",
            "--topic", "sales-", "--resource-pattern-type", "prefixed")
        assert ana.get_subjects() == ["sales-orders-value"], "only the department's subjects are listed"
        assert ana.get_schema(sid).schema_str
        with pytest.raises(SchemaRegistryError) as e:
            ana.register_schema("sales-orders-value", Schema(PAYMENT_V2, "AVRO"))
        assert e.value.error_code == 40301, "reading does not allow registering"
        cli("acl", "add", "--allow-principal", "User:ana", "--operation", "write",
            "--topic", "sales-", "--resource-pattern-type", "prefixed")
        assert ana.register_schema("sales-orders-value", Schema(PAYMENT_V2, "AVRO")) > sid
        with pytest.raises(SchemaRegistryError) as e:
            ana.register_schema("hr-payroll-value", Schema(PAYMENT_V2, "AVRO"))
        assert e.value.error_code == 40301
        with pytest.raises(SchemaRegistryError) as e:
            ana.set_compatibility(level="NONE")
        assert e.value.error_code == 40301, "the global config needs ALTER_CONFIGS on the cluster"
        audit = tmp_path / "data" / "audit.log"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            events = [json.loads(line) for line in audit.read_text().splitlines()]
            if sum(e["event"] == "registry_denied" for e in events) >= 4:
                break
            time.sleep(0.05)
        changes = [e for e in events if e["event"] == "registry_change" and e["outcome"] == "success"]
        assert any(e["principal"] == "User:admin" and "/subjects/sales-orders-value/versions" in e["path"] for e in changes)
        assert any(e["principal"] == "User:ana" for e in changes)
        denied = [e for e in events if e["event"] == "registry_denied"]
        assert any(e["principal"] == "User:ana" and e["subject"] == "hr-payroll-value" for e in denied)
        assert any(e["event"] == "registry_authentication" and e["outcome"] == "failure" for e in events)
