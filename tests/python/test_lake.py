"""Topics landed in Delta tables (`[lake]`), read back by an independent reader: the Python
`deltalake` package (delta-rs's own Python build) and pyarrow over the Parquet files the Delta log
lists. Exactly once across a SIGKILL mid-stream, aborted transactions never landed, new fields
becoming new columns."""

import json
import os
import subprocess
import time
import urllib.request
import uuid

import psycopg
import pyarrow.parquet as pq
from confluent_kafka import Producer
from deltalake import DeltaTable

from conftest import REPO, _free_port, running_broker, sigkill
from test_confluent_kafka import TIMEOUT_S, create_topic, produce

LAND_TIMEOUT_S = 60


def lake_broker(tmp_path, tables, flush_interval_ms=200, flush_max_records=100_000, http_port=None, lake=(),
                sql_port=0, root=None):
    """A broker landing `tables` ([(topic, extra TOML lines)]) under `root` (default
    tmp_path/lake); `lake`: more `[lake]` lines; SQL on `sql_port` (0: any free port)."""
    port = _free_port()
    lines = ["[lake]", f'root = "{root or tmp_path / "lake"}"', f"flush_interval_ms = {flush_interval_ms}",
             f"flush_max_records = {flush_max_records}", *lake]
    for topic, extra in tables:
        lines += ["[[lake.tables]]", f'topic = "{topic}"', *extra]
    config = tmp_path / "oxbow.toml"
    config.write_text("\n".join(lines) + "\n")
    args = ["--config", str(config), "--listen", f"127.0.0.1:{port}", "--sql-listen", f"127.0.0.1:{sql_port}"]
    if http_port:
        args += ["--http-listen", f"127.0.0.1:{http_port}"]
    return args, port


def table_rows(path):
    """Every row of the table at `path` (None until the table exists)."""
    if not DeltaTable.is_deltatable(str(path)):
        return None
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist()


def wait_rows(path, done, what):
    deadline = time.monotonic() + LAND_TIMEOUT_S
    rows = None
    while time.monotonic() < deadline:
        rows = table_rows(path)
        if rows is not None and done(rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; table has {None if rows is None else len(rows)} rows")


def produce_orders(broker, topic, ids):
    produce(broker, topic, [{"key": f"k{i}".encode(), "value": json.dumps({"id": i, "amount": i * 1.5}).encode(),
                             "partition": i % 3} for i in ids], **{"acks": "all"})


def test_given_a_json_topic_when_the_broker_is_sigkilled_mid_stream_should_land_every_record_exactly_once(tmp_path):
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    # Small commits, so that the SIGKILL comes while the sink is landing, and compactions of
    # them running beside it.
    args, port = lake_broker(tmp_path, [(topic, ['partition_by = ["day"]'])], flush_max_records=20,
                             lake=["compaction_min_files = 3"])
    broker = f"127.0.0.1:{port}"
    path = tmp_path / "lake" / topic
    with running_broker(tmp_path, args, port) as log:
        create_topic(broker, topic, partitions=3)
        produce_orders(broker, topic, range(0, 1500))
        # Killed while the sink is landing (commits of 20 records): some are in the table.
        landed = wait_rows(path, lambda rows: len(rows) > 0, "the first commit")
        sigkill(log)
        assert len(landed) < 1500, "the broker was to be killed mid-stream"
        assert len(landed) % 20 == 0, len(landed)
    with running_broker(tmp_path, args, port):
        produce_orders(broker, topic, range(1500, 3000))
        # A transaction that aborts never lands; the committed one does.
        p = Producer({"bootstrap.servers": broker, "transactional.id": f"lake-{uuid.uuid4().hex[:6]}"})
        p.init_transactions(TIMEOUT_S)
        p.begin_transaction()
        for i in range(10_000, 10_010):
            p.produce(topic, json.dumps({"id": i, "amount": 0.0}).encode(), partition=i % 3)
        p.flush(TIMEOUT_S)
        p.abort_transaction(TIMEOUT_S)
        p.begin_transaction()
        for i in range(20_000, 20_010):
            p.produce(topic, json.dumps({"id": i, "amount": 0.0}).encode(), partition=i % 3)
        p.commit_transaction(TIMEOUT_S)
        rows = wait_rows(path, lambda rows: len(rows) >= 3010, "all 3010 committed records")
        time.sleep(1)  # a late duplicate commit would show up here
        rows = table_rows(path)

    ids = sorted(r["id"] for r in rows)
    assert ids == list(range(3000)) + list(range(20_000, 20_010)), \
        f"{len(ids)} rows, {len(set(ids))} distinct ids"
    positions = {(r["_partition"], r["_offset"]) for r in rows}
    assert len(positions) == len(rows)
    first = next(r for r in rows if r["id"] == 7)
    assert first["_topic"] == topic and first["_key"] == "k7" and first["amount"] == 10.5
    assert first["_partition"] == 1 and first["day"] == first["_timestamp"].strftime("%Y-%m-%d")
    dt = DeltaTable(str(path))
    assert dt.metadata().partition_columns == ["day"]
    # The table's log records the next offset of every partition (Delta's txn action).
    landed = {p: dt.transaction_version(f"oxbow:{topic}:{p}") for p in range(3)}
    per_partition = {p: 1 + max(r["_offset"] for r in rows if r["_partition"] == p) for p in range(3)}
    for p in range(3):
        assert landed[p] >= per_partition[p], (landed, per_partition)
    # pyarrow alone over the files the log lists sees the same rows.
    assert sum(pq.read_table(uri).num_rows for uri in dt.file_uris()) == len(rows)
    # Offsets, timestamps and keys hardly repeat: written plain, without a dictionary.
    meta = pq.ParquetFile(dt.file_uris()[0]).metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    for column in ("_offset", "_timestamp", "_key"):
        assert "RLE_DICTIONARY" not in encodings[column], encodings


def test_given_records_with_a_new_field_when_landed_should_add_a_nullable_column(tmp_path):
    topic = f"events-{uuid.uuid4().hex[:6]}"
    hport = _free_port()
    args, port = lake_broker(tmp_path, [(topic, [])], http_port=hport)
    broker = f"127.0.0.1:{port}"
    path = tmp_path / "lake" / topic
    with running_broker(tmp_path, args, port, env={"OXBOW_HTTP_LISTEN": f"127.0.0.1:{hport}"}):
        create_topic(broker, topic)
        produce(broker, topic, [{"value": json.dumps({"id": i, "kind": "a"}).encode()} for i in range(5)])
        wait_rows(path, lambda rows: len(rows) == 5, "the first five records")
        assert "region" not in DeltaTable(str(path)).schema().to_arrow().names
        produce(broker, topic, [{"value": json.dumps({"id": 5, "kind": "b", "region": "eu"}).encode()},
                                {"value": json.dumps({"id": 6}).encode()}])
        rows = wait_rows(path, lambda rows: len(rows) == 7, "all seven records")
        # Its progress, as /lake/status, `oxbow lake status` and /metrics tell it.
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{hport}/lake/status"))["tables"]
            if status[0]["committed"] == {"0": 7} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status[0]["topic"] == topic and status[0]["state"] == "running", status
        assert status[0]["committed"] == {"0": 7} and status[0]["lag_records"] == 0, status
        assert status[0]["rows_landed"] == 7 and status[0]["files"] >= 2, status
        binary = os.environ.get("OXBOW_BIN", str(REPO / "target" / "debug" / "oxbow"))
        out = subprocess.run([binary, "lake", "status", "--http", f"http://127.0.0.1:{hport}"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        line = next(l for l in out.stdout.splitlines() if l.startswith(topic))
        assert "running" in line and "0:7" in line, out.stdout
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{hport}/metrics").read().decode()
        assert f'oxbow_lake_committed_offset{{topic="{topic}",partition="0"}} 7' in metrics, metrics[-2000:]
        assert f'oxbow_lake_table_up{{topic="{topic}"}} 1' in metrics
    by_id = {r["id"]: r for r in rows}
    assert by_id[5]["region"] == "eu" and by_id[0]["region"] is None and by_id[6]["kind"] is None
    schema = DeltaTable(str(path)).schema().to_arrow()
    assert schema.field("region").nullable


def sql_count_sum(conn, topic):
    """count(*) and sum(id) of `topic`'s table; once more if vacuum (retention 0 here) deleted a
    file between the query's listing and its read, a race only a zero retention opens."""
    for attempt in range(2):
        try:
            return conn.execute(f'SELECT count(*), sum(id) FROM "{topic}"').fetchone()
        except psycopg.Error as e:
            if attempt or "not found" not in str(e).lower():
                raise


def test_given_many_small_flushes_when_landing_should_compact_files_and_vacuum_the_replaced_ones(tmp_path):
    topic = f"ticks-{uuid.uuid4().hex[:6]}"
    sql_port = _free_port()
    args, port = lake_broker(tmp_path, [(topic, ['partition_by = ["day"]'])], flush_interval_ms=100,
                             lake=["compaction_min_files = 4", "vacuum_retention_ms = 0"], sql_port=sql_port)
    broker = f"127.0.0.1:{port}"
    path = tmp_path / "lake" / topic
    with running_broker(tmp_path, args, port), \
            psycopg.connect(host="127.0.0.1", port=sql_port, user="analyst", dbname="oxbow", autocommit=True,
                            connect_timeout=10) as conn:
        create_topic(broker, topic, partitions=2)
        for round in range(30):
            produce(broker, topic, [{"value": json.dumps({"id": round * 5 + i}).encode(), "partition": i % 2}
                                    for i in range(5)], acks="all")
            # SQL keeps the table open between queries and follows it through commits, compactions
            # and vacuums: every produced record counted once, landed or in the tail.
            if round == 0:
                wait_rows(path, lambda rows: True, "the table to be created")
            assert sql_count_sum(conn, topic) == (5 * (round + 1), sum(range(5 * (round + 1))))
            time.sleep(0.15)
        rows = wait_rows(path, lambda rows: len(rows) == 150, "all 150 records")
        # Compaction and vacuum (retention 0: it deletes what compaction replaced) run beside
        # landing, so they may finish after the last commit.
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            dt = DeltaTable(str(path))
            live = dt.file_uris()
            on_disk = len(list(path.rglob("*.parquet")))
            if (len(live) <= 4 and on_disk == len(live)) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        operations = [h["operation"] for h in dt.history()]
    assert sorted(r["id"] for r in rows) == list(range(150))
    writes = operations.count("WRITE")
    assert writes >= 15, operations  # many small flushes...
    assert "OPTIMIZE" in operations, operations
    assert len(live) <= 4, live  # ...but few live files
    assert on_disk == len(live), (on_disk, live)


def test_given_a_compaction_running_when_records_keep_arriving_should_land_them_meanwhile(tmp_path):
    """An append table is compacted beside its sink, not between its commits: some compaction
    commits after commits the sink made while it rewrote files (its readVersion is behind its
    version by more than one), and every record is still in the table exactly once."""
    topic = f"stream-{uuid.uuid4().hex[:6]}"
    args, port = lake_broker(tmp_path, [(topic, [])], flush_interval_ms=100, lake=["compaction_min_files = 3"])
    broker = f"127.0.0.1:{port}"
    path = tmp_path / "lake" / topic
    sent, overlapped = 0, None
    with running_broker(tmp_path, args, port):
        create_topic(broker, topic, partitions=2)
        producer = Producer({"bootstrap.servers": broker, "acks": "all", "linger.ms": 5})
        deadline = time.monotonic() + LAND_TIMEOUT_S
        while overlapped is None and time.monotonic() < deadline:
            for _ in range(5000):
                producer.produce(topic, json.dumps({"id": sent, "note": "n" * 40}).encode(), partition=sent % 2)
                sent += 1
                producer.poll(0)
            assert producer.flush(TIMEOUT_S) == 0
            if DeltaTable.is_deltatable(str(path)):
                overlapped = next((h for h in DeltaTable(str(path)).history()
                                   if h["operation"] == "OPTIMIZE" and h["version"] > h["readVersion"] + 1), None)
        assert overlapped is not None, f"no compaction overlapped a landing commit ({sent} records sent)"
        rows = wait_rows(path, lambda rows: len(rows) >= sent, f"all {sent} records")
    assert sorted(r["id"] for r in rows) == list(range(sent))


def test_given_bad_records_and_a_dead_letter_topic_should_land_the_rest_and_park_the_bad_ones_with_the_reason(tmp_path):
    from confluent_kafka import Consumer
    topic = f"payments-{uuid.uuid4().hex[:6]}"
    hport = _free_port()
    args, port = lake_broker(tmp_path, [(topic, ['on_error = "dead-letter"'])], http_port=hport)
    broker = f"127.0.0.1:{port}"
    path = tmp_path / "lake" / topic
    with running_broker(tmp_path, args, port, env={"OXBOW_HTTP_LISTEN": f"127.0.0.1:{hport}"}) as log:
        create_topic(broker, topic)
        produce(broker, topic, [{"value": json.dumps({"id": i, "amount": 1.5}).encode()} for i in range(5)])
        wait_rows(path, lambda rows: len(rows) == 5, "the first five records")
        # Not JSON; an amount that is no number; then good ones again.
        produce(broker, topic, [{"key": b"bad-1", "value": b"not json"},
                                {"key": b"bad-2", "value": json.dumps({"id": 6, "amount": "lots"}).encode()},
                                *[{"value": json.dumps({"id": i, "amount": 2.0}).encode()} for i in range(7, 10)]])
        rows = wait_rows(path, lambda rows: len(rows) == 8, "the eight good records")
        c = Consumer({"bootstrap.servers": broker, "group.id": f"dlq-{uuid.uuid4().hex[:6]}",
                      "auto.offset.reset": "earliest"})
        c.subscribe([f"{topic}.dead-letter"])
        parked, deadline = [], time.monotonic() + TIMEOUT_S
        while len(parked) < 2 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                parked.append(m)
        c.close()
        status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{hport}/lake/status"))["tables"][0]
        sigkill(log)
    assert sorted(r["id"] for r in rows) == [0, 1, 2, 3, 4, 7, 8, 9]
    assert [m.key() for m in parked] == [b"bad-1", b"bad-2"] and parked[0].value() == b"not json"
    headers = [dict(m.headers()) for m in parked]
    assert headers[0]["oxbow.lake.topic"] == topic.encode() and headers[0]["oxbow.lake.offset"] == b"5"
    assert headers[1]["oxbow.lake.offset"] == b"6" and headers[1]["oxbow.lake.partition"] == b"0", headers[1]
    assert b"does not decode" in headers[0]["oxbow.lake.error"], headers[0]
    assert b"columns" in headers[1]["oxbow.lake.error"], headers[1]
    assert status["state"] == "running" and status["records_dead_lettered"] == 2, status
