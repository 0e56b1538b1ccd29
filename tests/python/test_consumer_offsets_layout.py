"""`__consumer_offsets` as Kafka 4.0 lays it out: a KIP-848 group (confluent-kafka,
`group.protocol=consumer`) is read back from the topic by a plain consumer and decoded here with
Kafka's record schemas (group-coordinator's ConsumerGroup*Key/Value, key versions 3 to 8, and the
offset commit records), written from the schemas, not from the broker's code."""

import struct
import time
import uuid

from confluent_kafka import Consumer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient

from test_confluent_kafka import TIMEOUT_S, create_topic, produce

OFFSETS = "__consumer_offsets"


class Reader:
    """Kafka's primitive types, classic and flexible (compact) versions."""

    def __init__(self, data: bytes):
        self.b = data
        self.i = 0

    def take(self, n):
        assert self.i + n <= len(self.b), f"truncated at {self.i}+{n} of {len(self.b)}"
        out = self.b[self.i:self.i + n]
        self.i += n
        return out

    def int8(self):
        return struct.unpack(">b", self.take(1))[0]

    def int16(self):
        return struct.unpack(">h", self.take(2))[0]

    def int32(self):
        return struct.unpack(">i", self.take(4))[0]

    def int64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        v, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            v |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return v
            shift += 7

    def string(self):
        n = self.int16()
        return None if n < 0 else self.take(n).decode()

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def compact_array(self, element):
        n = self.uvarint()
        return None if n == 0 else [element() for _ in range(n - 1)]

    def uuid(self):
        return uuid.UUID(bytes=self.take(16))

    def tagged_fields(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def done(self):
        assert self.i == len(self.b), f"{len(self.b) - self.i} bytes left over"


def topic_partitions(r):
    def element():
        tp = {"topic_id": r.uuid(), "partitions": r.compact_array(r.int32)}
        r.tagged_fields()
        return tp
    return r.compact_array(element)


def decode_key(key: bytes):
    r = Reader(key)
    version = r.int16()
    if version in (0, 1):
        out = (version, r.string(), r.string(), r.int32())  # OffsetCommitKey: group, topic, partition
    elif version in (2, 3, 4, 6):
        out = (version, r.string())  # GroupMetadataKey / ConsumerGroup{,Partition,TargetAssignment}MetadataKey
    elif version in (5, 7, 8):
        out = (version, r.string(), r.string())  # group id, member id
    else:
        raise AssertionError(f"key version {version} is none of Kafka's group coordinator records")
    r.done()
    return out


def decode_value(version: int, value: bytes):
    r = Reader(value)
    value_version = r.int16()
    if version in (0, 1):  # OffsetCommitValue
        assert value_version in (1, 3), value_version
        out = {"offset": r.int64()}
        if value_version >= 3:
            out["leader_epoch"] = r.int32()
        out["metadata"] = r.string()
        out["commit_timestamp"] = r.int64()
        if value_version == 1:
            r.int64()
        r.done()
        return out
    if version == 2:  # GroupMetadataValue (a classic group), value version 3
        assert value_version == 3, value_version
        out = {"protocol_type": r.string(), "generation": r.int32(), "protocol": r.string(),
               "leader": r.string(), "state_timestamp": r.int64(), "members": []}
        for _ in range(r.int32()):
            member = {"member_id": r.string(), "instance_id": r.string(), "client_id": r.string(),
                      "client_host": r.string(), "rebalance_timeout_ms": r.int32(),
                      "session_timeout_ms": r.int32()}
            r.take(r.int32())  # subscription
            r.take(r.int32())  # assignment
            out["members"].append(member)
        r.done()
        return out
    assert value_version == 0, f"value version {value_version} for key version {version}"
    if version == 3:  # ConsumerGroupMetadataValue
        out = {"epoch": r.int32()}
    elif version == 4:  # ConsumerGroupPartitionMetadataValue
        def topic():
            t = {"topic_id": r.uuid(), "name": r.compact_string(), "partitions": r.int32()}

            def rack():
                p = {"partition": r.int32(), "racks": r.compact_array(r.compact_string)}
                r.tagged_fields()
                return p
            t["racks"] = r.compact_array(rack)
            r.tagged_fields()
            return t
        out = {"epoch": r.int32(), "topics": r.compact_array(topic)}
    elif version == 5:  # ConsumerGroupMemberMetadataValue
        out = {"instance_id": r.compact_string(), "rack_id": r.compact_string(),
               "client_id": r.compact_string(), "client_host": r.compact_string(),
               "subscribed": r.compact_array(r.compact_string), "regex": r.compact_string(),
               "rebalance_timeout_ms": r.int32(), "server_assignor": r.compact_string()}
    elif version == 6:  # ConsumerGroupTargetAssignmentMetadataValue
        out = {"assignment_epoch": r.int32()}
    elif version == 7:  # ConsumerGroupTargetAssignmentMemberValue
        out = {"partitions": topic_partitions(r)}
    elif version == 8:  # ConsumerGroupCurrentMemberAssignmentValue
        out = {"epoch": r.int32(), "previous_epoch": r.int32(), "state": r.int8(),
               "assigned": topic_partitions(r), "revoking": topic_partitions(r)}
    else:
        raise AssertionError(f"unexpected key version {version}")
    r.tagged_fields()
    r.done()
    return out


def read_offsets_topic(broker):
    """Every record of `__consumer_offsets`, decoded: [(key, value or None)] in offset order."""
    c = Consumer({"bootstrap.servers": broker, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        _, high = c.get_watermark_offsets(TopicPartition(OFFSETS, 0), timeout=TIMEOUT_S)
        c.assign([TopicPartition(OFFSETS, 0, 0)])
        out = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < high and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            key = decode_key(m.key())
            value = None if m.value() is None else decode_value(key[0], m.value())
            out.append((key, value))
        assert len(out) >= high, f"read {len(out)} of {high} records"
        return out
    finally:
        c.close()


def latest(records, group):
    """The live state of `group`: the latest value per key (tombstoned keys absent)."""
    live = {}
    for key, value in records:
        if key[1] != group:
            continue
        if value is None:
            live.pop(key, None)
        else:
            live[key] = value
    return live


def topic_id(broker, topic):
    admin = AdminClient({"bootstrap.servers": broker})
    desc = admin.describe_topics(TopicCollection([topic]))[topic].result(TIMEOUT_S)
    tid = desc.topic_id
    raw = struct.pack(">qq", tid.get_most_significant_bits(), tid.get_least_significant_bits())
    return uuid.UUID(bytes=raw)


def kip848_consumer(broker, group, client_id):
    return Consumer({"bootstrap.servers": broker, "group.id": group, "group.protocol": "consumer",
                     "client.id": client_id, "auto.offset.reset": "earliest", "enable.auto.commit": False})


def poll_until(consumers, done, what):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for c in consumers:
            c.poll(0.1)
        if done():
            return
    raise AssertionError(f"timed out waiting for {what}")


def owned(consumers):
    return [sorted(tp.partition for tp in c.assignment()) for c in consumers]


def test_given_a_kip848_group_when_reading_consumer_offsets_should_decode_with_kafka_layouts(tmp_path):
    from conftest import _free_port, running_broker, sigkill
    port = _free_port()
    broker = f"127.0.0.1:{port}"
    args = ["--listen", broker]
    env = {"OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS": "0"}
    topic = f"layout-{uuid.uuid4().hex[:8]}"
    group = f"layout-{uuid.uuid4().hex[:8]}"
    with running_broker(tmp_path, args, port, env=env) as log:
        create_topic(broker, topic, partitions=3)
        produce(broker, topic, [{"value": b"v", "partition": i % 3} for i in range(9)])
        tid = topic_id(broker, topic)
        a = kip848_consumer(broker, group, "member-a")
        b = kip848_consumer(broker, group, "member-b")
        a.subscribe([topic])
        b.subscribe([topic])
        poll_until([a, b], lambda: sorted(sum(owned([a, b]), [])) == [0, 1, 2] and all(owned([a, b])),
                   "both members to own the three partitions")
        a.commit(offsets=[TopicPartition(topic, p, 3) for p in (tp.partition for tp in a.assignment())],
                 asynchronous=False)

        records = read_offsets_topic(broker)
        live = latest(records, group)
        assert not [k for k, _ in records if k[0] == 2 and k[1] == group], \
            "a KIP-848 group must not be written under the classic group-metadata key"
        epoch = live[(3, group)]["epoch"]
        assert epoch >= 1, live
        meta = live[(4, group)]
        assert [(t["topic_id"], t["name"], t["partitions"]) for t in meta["topics"]] == [(tid, topic, 3)]
        members = {k[2]: v for k, v in live.items() if k[0] == 5}
        assert sorted(m["client_id"] for m in members.values()) == ["member-a", "member-b"], members
        assert all(m["subscribed"] == [topic] and m["rebalance_timeout_ms"] > 0 for m in members.values())
        assignment_epoch = live[(6, group)]["assignment_epoch"]
        assert assignment_epoch == epoch
        targets = {k[2]: v["partitions"] for k, v in live.items() if k[0] == 7}
        assert set(targets) == set(members)
        target_parts = sorted(p for t in targets.values() for tp in t for p in tp["partitions"])
        assert target_parts == [0, 1, 2] and all(tp["topic_id"] == tid for t in targets.values() for tp in t)
        current = {k[2]: v for k, v in live.items() if k[0] == 8}
        assert set(current) == set(members)
        for member, c in current.items():
            assert c["epoch"] == assignment_epoch and c["state"] == 0 and c["revoking"] == [], c
            assert c["assigned"] == targets[member], (c, targets[member])
        commits = {(k[2], k[3]): v["offset"] for k, v in live.items() if k[0] in (0, 1)}
        assert commits and all(o == 3 for o in commits.values()) and {t for t, _ in commits} == {topic}

        # member-b leaves: its three records are deleted by tombstones, member-a gets everything.
        b_id = next(m for m, v in members.items() if v["client_id"] == "member-b")
        b.close()
        poll_until([a], lambda: owned([a]) == [[0, 1, 2]], "member-a to own every partition")
        a.commit(offsets=[TopicPartition(topic, p, 3) for p in (0, 1, 2)], asynchronous=False)
        records = read_offsets_topic(broker)
        for version in (5, 7, 8):
            last = [v for k, v in records if k == (version, group, b_id)][-1]
            assert last is None, f"key version {version} of the departed member is not a tombstone: {last}"
        live = latest(records, group)
        a_id = next(k[2] for k in live if k[0] == 5)
        assert {k[2] for k in live if k[0] in (5, 7, 8)} == {a_id}
        assert live[(8, group, a_id)]["epoch"] == live[(3, group)]["epoch"]
        before = live

        # The group comes back from these records after a SIGKILL: member-a keeps its epoch
        # and commits as before.
        sigkill(log)
    with running_broker(tmp_path, args, port, env=env):
        records = read_offsets_topic(broker)
        assert latest(records, group) == before
        result = a.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
        assert result[0].error is None, result
        a.close()
        live = latest(read_offsets_topic(broker), group)
        assert live[(1, group, topic, 0)]["offset"] == 5
        assert live[(3, group)]["epoch"] >= before[(3, group)]["epoch"]
