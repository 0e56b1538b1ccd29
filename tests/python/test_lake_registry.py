"""Avro and Protobuf topics landed in Delta tables: confluent-kafka's own serializers register the
schemas with the broker's schema registry and frame every value with the schema id; the lake reads
each value with its writer's schema. Read back with the Python `deltalake` package."""

import uuid

import psycopg

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from deltalake import DeltaTable
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from conftest import _free_port, running_broker, sigkill
from test_confluent_kafka import TIMEOUT_S, create_topic
from test_lake import lake_broker, wait_rows

ORDER_V1 = """{"type": "record", "name": "Order", "namespace": "oxbow.test", "fields": [
  {"name": "id", "type": "long"},
  {"name": "amount", "type": "double"},
  {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}}]}"""

# Version 2 appends a field with a default (the compatibility rule the marketplace team uses).
ORDER_V2 = """{"type": "record", "name": "Order", "namespace": "oxbow.test", "fields": [
  {"name": "id", "type": "long"},
  {"name": "amount", "type": "double"},
  {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
  {"name": "region", "type": ["null", "string"], "default": null}]}"""


def send(broker, topic, serializer, items):
    """Produces (key, value dict) pairs serialized by `serializer`, acks=all, and waits for every ack."""
    p = Producer({"bootstrap.servers": broker, "acks": "all"})
    errors = []
    ctx = SerializationContext(topic, MessageField.VALUE)
    for key, value in items:
        payload = None if value is None else serializer(value, ctx)
        p.produce(topic, key=key, value=payload, on_delivery=lambda err, _m: err and errors.append(err))
    assert p.flush(TIMEOUT_S) == 0
    assert not errors, errors


def test_given_avro_values_when_landed_should_read_them_with_the_writers_schema_across_a_sigkill(tmp_path):
    topic = f"orders_{uuid.uuid4().hex[:6]}"
    rport, sql_port = _free_port(), _free_port()
    # Partitioned by a value field (the enum's symbol); the SQL listener reads the same table.
    args, port = lake_broker(tmp_path, [(topic, ['value_format = "avro"', 'partition_by = ["side"]'])],
                             sql_port=sql_port)
    args += ["--registry-listen", f"127.0.0.1:{rport}"]
    env = {"OXBOW_REGISTRY_LISTEN": f"127.0.0.1:{rport}"}
    broker = f"127.0.0.1:{port}"
    path = tmp_path / "lake" / topic
    client = SchemaRegistryClient({"url": f"http://127.0.0.1:{rport}"})
    with running_broker(tmp_path, args, port, env=env) as log:
        create_topic(broker, topic, partitions=2)
        v1 = AvroSerializer(client, ORDER_V1)
        send(broker, topic, v1, [(str(i).encode(), {"id": i, "amount": i * 2.5, "side": "BUY" if i % 2 else "SELL"})
                                 for i in range(40)])
        wait_rows(path, lambda rows: len(rows) == 40, "the forty v1 records")
        sigkill(log)
    # The schemas and the table's progress both come back: v2 records land after the restart.
    with running_broker(tmp_path, args, port, env=env):
        v2 = AvroSerializer(client, ORDER_V2)
        send(broker, topic, v2, [(str(i).encode(), {"id": i, "amount": 1.0, "side": "SELL", "region": "eu"})
                                 for i in range(40, 50)])
        rows = wait_rows(path, lambda rows: len(rows) == 50, "all fifty records")
        with psycopg.connect(host="127.0.0.1", port=sql_port, user="analyst", dbname="oxbow", autocommit=True,
                             connect_timeout=10) as conn:
            counts = conn.execute(f"SELECT side, count(*), sum(amount) FROM {topic} GROUP BY side ORDER BY side").fetchall()
            regions = conn.execute(f"SELECT count(*) FROM {topic} WHERE region = 'eu'").fetchone()[0]
            # A filter on the partition column reads only that partition's files.
            buys = conn.execute(f"SELECT count(*) FROM {topic} WHERE side = 'BUY'").fetchone()[0]
            plan = "\n".join(r[-1] for r in conn.execute(f"EXPLAIN SELECT count(*) FROM {topic} WHERE side = 'BUY'"))
    assert buys == 20
    assert "side=BUY" in plan and "side=SELL" not in plan, plan
    assert counts == [("BUY", 20, sum(i * 2.5 for i in range(1, 40, 2))),
                      ("SELL", 30, sum(i * 2.5 for i in range(0, 40, 2)) + 10.0)], counts
    assert regions == 10
    partitions = {part for uri in DeltaTable(str(path)).file_uris() for part in uri.split("/") if part.startswith("side=")}
    assert partitions == {"side=BUY", "side=SELL"}, partitions
    ids = sorted(r["id"] for r in rows)
    assert ids == list(range(50)), "every record exactly once"
    by_id = {r["id"]: r for r in rows}
    assert by_id[3]["amount"] == 7.5 and by_id[3]["side"] == "BUY" and by_id[4]["side"] == "SELL"
    assert by_id[45]["region"] == "eu" and by_id[3]["region"] is None
    assert all(r["_topic"] == topic for r in rows)
    schema = DeltaTable(str(path)).schema().to_arrow()
    assert schema.field("region").nullable


def account_message_class():
    """A Protobuf message class built at run time from a FileDescriptorProto (what protoc would
    generate): message Account { int64 id = 1; string owner = 2; Status status = 3; double balance = 4; }"""
    fdp = descriptor_pb2.FileDescriptorProto(name=f"account_{uuid.uuid4().hex[:6]}.proto", package="oxbow.test",
                                             syntax="proto3")
    status = fdp.enum_type.add(name="Status")
    for i, n in enumerate(["OPEN", "FROZEN", "CLOSED"]):
        status.value.add(name=n, number=i)
    msg = fdp.message_type.add(name="Account")
    F = descriptor_pb2.FieldDescriptorProto
    msg.field.add(name="id", number=1, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    msg.field.add(name="owner", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    msg.field.add(name="status", number=3, type=F.TYPE_ENUM, type_name=".oxbow.test.Status", label=F.LABEL_OPTIONAL)
    msg.field.add(name="balance", number=4, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("oxbow.test.Account"))


def test_given_protobuf_changes_when_landed_in_an_upsert_table_should_hold_the_latest_row_per_key(tmp_path):
    topic = f"accounts-{uuid.uuid4().hex[:6]}"
    rport = _free_port()
    args, port = lake_broker(tmp_path, [(topic, ['value_format = "protobuf"', 'mode = "upsert"', 'key = ["id"]'])])
    args += ["--registry-listen", f"127.0.0.1:{rport}"]
    broker = f"127.0.0.1:{port}"
    path = tmp_path / "lake" / topic
    Account = account_message_class()
    client = SchemaRegistryClient({"url": f"http://127.0.0.1:{rport}"})
    ser = ProtobufSerializer(Account, client, {"use.deprecated.format": False})
    with running_broker(tmp_path, args, port, env={"OXBOW_REGISTRY_LISTEN": f"127.0.0.1:{rport}"}):
        create_topic(broker, topic)
        changes = []
        for round_ in range(3):
            for i in range(20):
                changes.append((str(i).encode(), Account(id=i, owner=f"owner-{i}", status=round_ % 3,
                                                         balance=float(i * 10 + round_))))
        send(broker, topic, ser, changes)
        # Deletes: tombstones for ids 0..4.
        send(broker, topic, ser, [(str(i).encode(), None) for i in range(5)])
        rows = wait_rows(path, lambda rows: len(rows) == 15 and all(r["balance"] % 10 == 2 for r in rows),
                         "the latest row of each live account")
    assert sorted(r["id"] for r in rows) == list(range(5, 20))
    for r in rows:
        assert r["status"] == "CLOSED" and r["owner"] == f"owner-{r['id']}" and r["balance"] == r["id"] * 10 + 2, r
    # Nothing was written twice: one live row per key.
    assert len({r["id"] for r in rows}) == len(rows)
    history = DeltaTable(str(path)).history()
    assert any(h.get("operation") == "MERGE" for h in history), history
