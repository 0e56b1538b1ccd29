"""Upsert tables from CDC topics and SQL over the lake: Debezium changes merged into a Delta
table (read back by the `deltalake` package) across a SIGKILL; psql, psycopg and `oxbow sql`
answering count/sum/group-by over landed rows plus the live tail; a record visible to SQL within
seconds although the table commits once a minute; new fields as columns; writes refused."""

import json
import os
import random
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from conftest import REPO, _free_port, running_broker, sigkill
from test_confluent_kafka import create_topic, produce
from test_lake import lake_broker, table_rows, wait_rows

OXBOW = Path(os.environ.get("OXBOW_BIN", REPO / "target" / "debug" / "oxbow"))


def sql_broker(tmp_path, tables, **kw):
    sql_port = _free_port()
    args, port = lake_broker(tmp_path, tables, sql_port=sql_port, **kw)
    return args, port, sql_port


def connect(sql_port):
    return psycopg.connect(host="127.0.0.1", port=sql_port, user="analyst", dbname="oxbow", autocommit=True,
                           connect_timeout=10)


def debezium(op, before, after, wrapped):
    event = {"before": before, "after": after, "op": op, "ts_ms": int(time.time() * 1000),
             "source": {"connector": "postgresql", "table": "accounts"}}
    if wrapped:
        return {"schema": {"type": "struct", "name": "accounts.Envelope"}, "payload": event}
    return event


def test_given_debezium_changes_when_landed_in_an_upsert_table_should_hold_the_latest_row_per_live_key(tmp_path):
    topic = f"accounts-{uuid.uuid4().hex[:6]}"
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    args, port, sql_port = sql_broker(
        tmp_path, [(topic, ['mode = "upsert"', 'key = ["id"]', 'envelope = "debezium"'])], flush_max_records=50)
    broker = f"127.0.0.1:{port}"
    path = tmp_path / "lake" / topic
    model = {}

    def changes(n):
        out = []
        for _ in range(n):
            i = rng.randrange(40)
            key = json.dumps({"schema": {}, "payload": {"id": i}}).encode()
            wrapped = rng.random() < 0.5
            if i in model and rng.random() < 0.2:
                before = model.pop(i)
                out.append({"key": key, "value": json.dumps(debezium("d", before, None, wrapped)).encode()})
                if rng.random() < 0.5:  # Debezium's tombstone after a delete
                    out.append({"key": key, "value": None})
            else:
                row = {"id": i, "balance": rng.randrange(10_000), "owner": f"o{rng.randrange(5)}"}
                out.append({"key": key, "value": json.dumps(
                    debezium("u" if i in model else "c", model.get(i), row, wrapped)).encode()})
                model[i] = row
        return out

    with running_broker(tmp_path, args, port) as log:
        create_topic(broker, topic, partitions=1)
        produce(broker, topic, changes(600), acks="all")
        wait_rows(path, lambda rows: len(rows) > 0, "the first merge")
        sigkill(log)
    with running_broker(tmp_path, args, port):
        produce(broker, topic, changes(600), acks="all")
        expected = sorted((r["id"], r["balance"], r["owner"]) for r in model.values())

        def latest(rows):
            return sorted((r["id"], r["balance"], r["owner"]) for r in rows) == expected

        rows = wait_rows(path, latest, "the latest row per live key")
        assert len({r["id"] for r in rows}) == len(rows), "one row per key"
        # SQL sees the same rows.
        with connect(sql_port) as conn:
            got = conn.execute(f'SELECT id, balance, owner FROM "{topic}" ORDER BY id').fetchall()
            assert sorted(got) == expected
            # Changes not landed yet (the table commits every 50 changes) are merged by key in
            # the query: the very last state of every key, as if flushed.
            produce(broker, topic, changes(30), acks="all")
            expected = sorted((r["id"], r["balance"], r["owner"]) for r in model.values())
            got = conn.execute(f'SELECT id, balance, owner FROM "{topic}" ORDER BY id').fetchall()
            assert sorted(got) == expected, f"seed {seed}"


def test_given_an_append_table_when_queried_with_psql_psycopg_and_the_cli_should_answer_with_the_tail_included(tmp_path):
    topic = f"trades-{uuid.uuid4().hex[:6]}"
    # One commit a minute: what the queries see past the first batch comes from the live tail.
    args, port, sql_port = sql_broker(tmp_path, [(topic, ['partition_by = ["day"]'])], flush_interval_ms=60_000,
                                      flush_max_records=1000)
    broker = f"127.0.0.1:{port}"
    path = tmp_path / "lake" / topic
    symbols = ["AAA", "BBB", "CCC"]
    trades = [{"id": i, "symbol": symbols[i % 3], "qty": i % 7 + 1, "price": 10.0 + i % 5} for i in range(1500)]
    with running_broker(tmp_path, args, port):
        create_topic(broker, topic, partitions=3)
        produce(broker, topic, [{"key": str(t["id"]).encode(), "value": json.dumps(t).encode(),
                                 "partition": t["id"] % 3} for t in trades], acks="all")
        # 1000 landed at once (flush_max_records), 500 wait in the tail.
        landed = wait_rows(path, lambda rows: len(rows) >= 1000, "the first commit")
        assert len(landed) < 1500
        want = {s: (sum(1 for t in trades if t["symbol"] == s), sum(t["qty"] for t in trades if t["symbol"] == s))
                for s in symbols}
        with connect(sql_port) as conn:
            count, total = conn.execute(f'SELECT count(*), sum(qty) FROM "{topic}"').fetchone()
            assert (count, total) == (1500, sum(t["qty"] for t in trades))
            got = conn.execute(
                f'SELECT symbol, count(*) AS n, sum(qty) AS q FROM "{topic}" GROUP BY symbol ORDER BY symbol').fetchall()
            assert {s: (n, q) for s, n, q in got} == want
            # A parameter, bound by psycopg's extended protocol.
            (n,) = conn.execute(f'SELECT count(*) FROM "{topic}" WHERE qty > %s AND symbol = %s', (3, "BBB")).fetchone()
            assert n == sum(1 for t in trades if t["qty"] > 3 and t["symbol"] == "BBB")
            # Unique offsets per partition: nothing counted twice between table and tail.
            (dupes,) = conn.execute(
                f'SELECT count(*) FROM (SELECT _partition, _offset FROM "{topic}" GROUP BY _partition, _offset HAVING count(*) > 1) d').fetchone()
            assert dupes == 0
            # Writes are refused with PostgreSQL's read-only code; the connection keeps serving.
            with pytest.raises(psycopg.Error) as refused:
                conn.execute(f'INSERT INTO "{topic}" (id) VALUES (1)')
            assert refused.value.sqlstate == "25006", refused.value
            with pytest.raises(psycopg.Error) as missing:
                conn.execute("SELECT * FROM no_such_table")
            assert missing.value.sqlstate == "42P01", missing.value
            # A transaction as psycopg opens one by default.
        with psycopg.connect(host="127.0.0.1", port=sql_port, user="bi", dbname="oxbow") as conn:
            assert conn.execute(f'SELECT count(*) FROM "{topic}"').fetchone() == (1500,)
            conn.commit()
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(sql_port), "-U", "analyst", "-d", "oxbow", "-At", "-F", ",", "-c",
             f'SELECT symbol, count(*), sum(qty) FROM "{topic}" GROUP BY symbol ORDER BY symbol'],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [f"{s},{want[s][0]},{want[s][1]}" for s in symbols]
        out = subprocess.run([str(OXBOW), "sql", "--sql", f"127.0.0.1:{sql_port}", "--json",
                              f'SELECT symbol, sum(price) AS p FROM "{topic}" GROUP BY symbol ORDER BY symbol'],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == [
            {"symbol": s, "p": sum(t["price"] for t in trades if t["symbol"] == s)} for s in symbols]


JDBC_JAR = Path("/usr/share/java/postgresql.jar")  # Debian's libpostgresql-jdbc-java (test.sh installs it)


def test_given_an_append_table_when_queried_through_jdbc_should_answer_plain_prepared_and_typed_queries(tmp_path):
    """PostgreSQL's JDBC driver (tests/java/JdbcSql.java), a real Java client: its statements,
    server-side prepared statements with binary results, typed parameters and timestamps, a
    transaction, a read-only connection, and the SQLSTATEs of its errors."""
    classes = tmp_path / "classes"
    javac = subprocess.run(["javac", "-d", str(classes), "-cp", str(JDBC_JAR), str(REPO / "tests" / "java" / "JdbcSql.java")],
                           capture_output=True, text=True, timeout=120)
    assert javac.returncode == 0, javac.stderr
    topic = f"fills-{uuid.uuid4().hex[:6]}"
    # One commit a minute: after the first 1000 rows, the rest come from the live tail.
    args, port, sql_port = sql_broker(tmp_path, [(topic, [])], flush_interval_ms=60_000, flush_max_records=1000)
    broker = f"127.0.0.1:{port}"
    symbols = ["AAA", "BBB", "CCC"]
    base_ms = 1_765_000_000_000
    trades = [{"id": i, "symbol": symbols[i % 3], "qty": i % 7 + 1, "price": 10.0 + i % 5} for i in range(1500)]
    with running_broker(tmp_path, args, port):
        create_topic(broker, topic, partitions=3)
        produce(broker, topic, [{"key": str(t["id"]).encode(), "value": json.dumps(t).encode(),
                                 "partition": t["id"] % 3, "timestamp": base_ms + t["id"]} for t in trades], acks="all")
        wait_rows(tmp_path / "lake" / topic, lambda rows: len(rows) >= 1000, "the first commit")
        out = subprocess.run(["java", "-cp", f"{JDBC_JAR}:{classes}", "JdbcSql", str(sql_port), topic],
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr
    lines = [line.split("\t") for line in out.stdout.splitlines()]
    got = {}
    for kind, *values in lines:
        got.setdefault(kind, []).append(values)
    assert got["count"] == [["1500", str(sum(t["qty"] for t in trades))]]
    assert got["group"] == [[s, str(sum(1 for t in trades if t["symbol"] == s)),
                             str(sum(t["price"] for t in trades if t["symbol"] == s))] for s in symbols]
    assert got["prepared"] == [[str(q), str(sum(1 for t in trades if t["qty"] > q and t["symbol"] == "BBB"))]
                               for q in range(8)]
    # Metadata columns too: the partition, the offset in it (ids went round-robin) and the
    # record's own timestamp, read as a java.sql.Timestamp.
    assert got["row"] == [[str(i), symbols[i % 3], str(10.0 + i % 5), str(i % 3), str(i // 3), str(base_ms + i)]
                          for i in [0, 7, 1499, 8, 9, 10]]
    assert got["types"] == [["id=int8", "symbol=text", "price=float8", "_partition=int4", "_offset=int8",
                             "_timestamp=timestamptz"]]
    assert [topic] in got["table"]
    assert got["error"] == [["missing", "42P01"], ["insert", "25006"], ["syntax", "42601"]]
    assert got["transaction"] == [["1500"]] and got["readonly"] == [["1500"]]


def test_given_sqlalchemy_when_it_connects_should_learn_the_server_and_run_bound_queries_and_savepoints(tmp_path):
    """SQLAlchemy (what pandas.read_sql, Superset and notebooks use) over psycopg: on connect it asks
    `pg_catalog.version()`, `current_schema()`, `SHOW standard_conforming_strings` and the
    isolation level; a nested transaction is a SAVEPOINT. (`use_native_hstore=False`: psycopg's
    hstore lookup reads pg_type, which the endpoint does not have.)"""
    topic = f"quotes-{uuid.uuid4().hex[:6]}"
    args, port, sql_port = sql_broker(tmp_path, [(topic, [])])
    broker = f"127.0.0.1:{port}"
    quotes = [{"id": i, "venue": ["XLON", "XNYS"][i % 2], "bid": 100 + i % 9} for i in range(300)]
    with running_broker(tmp_path, args, port):
        create_topic(broker, topic, partitions=2)
        produce(broker, topic, [{"value": json.dumps(q).encode(), "partition": q["id"] % 2} for q in quotes],
                acks="all")
        wait_rows(tmp_path / "lake" / topic, lambda rows: len(rows) == 300, "the rows to land")
        engine = sqlalchemy.create_engine(f"postgresql+psycopg://analyst@127.0.0.1:{sql_port}/oxbow",
                                          use_native_hstore=False)
        with engine.connect() as conn:
            assert engine.dialect.server_version_info == (16, 6)
            assert engine.dialect.default_schema_name == "public"
            assert conn.get_isolation_level() == "READ COMMITTED"
            got = conn.execute(sqlalchemy.text(
                f'SELECT venue, count(*) AS n, sum(bid) AS s FROM "{topic}" WHERE bid > :low '
                "GROUP BY venue ORDER BY venue"), {"low": 103}).all()
            assert [tuple(r) for r in got] == [
                (v, sum(1 for q in quotes if q["venue"] == v and q["bid"] > 103),
                 sum(q["bid"] for q in quotes if q["venue"] == v and q["bid"] > 103)) for v in ["XLON", "XNYS"]]
            with conn.begin_nested():  # SAVEPOINT ... RELEASE SAVEPOINT
                (n,) = conn.execute(sqlalchemy.text(f'SELECT count(*) FROM "{topic}"')).one()
                assert n == 300
            conn.rollback()
        with connect(sql_port) as conn:
            assert conn.execute("SHOW TRANSACTION ISOLATION LEVEL").fetchone() == ("read committed",)
            assert conn.execute("SELECT current_setting('server_version_num'), current_database()").fetchone() == (
                "160006", "oxbow")
            with pytest.raises(psycopg.Error) as unknown:
                conn.execute("SHOW no_such_setting")
            assert unknown.value.sqlstate == "42704", unknown.value
            # A savepoint rolled back to keeps the transaction open.
            conn.execute("BEGIN")
            conn.execute("SAVEPOINT s1")
            conn.execute("ROLLBACK TO SAVEPOINT s1")
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
            conn.execute("COMMIT")


def test_given_statements_nesting_too_deep_or_joining_too_much_should_refuse_them_and_keep_serving(tmp_path):
    """A chain of 20,000 `+` once overflowed the SQL thread's stack and aborted the broker; 300
    joins or 45 nested calls planned for minutes. They are refused before planning (54001), and
    the broker goes on serving SQL and Kafka."""
    topic = f"ticks-{uuid.uuid4().hex[:6]}"
    args, port, sql_port = sql_broker(tmp_path, [(topic, [])])
    broker = f"127.0.0.1:{port}"
    with running_broker(tmp_path, args, port):
        create_topic(broker, topic, partitions=1)
        produce(broker, topic, [{"value": json.dumps({"id": i}).encode()} for i in range(10)], acks="all")
        wait_rows(tmp_path / "lake" / topic, lambda rows: len(rows) == 10, "the rows to land")
        hostile = [
            "SELECT " + "+".join(["1"] * 20_000),
            f'SELECT count(*) FROM "{topic}" WHERE ' + " OR ".join(f"id = {i}" for i in range(5000)),
            " UNION ALL ".join(["SELECT 1"] * 2000),
            f'SELECT count(*) FROM "{topic}" t0 ' + " ".join(f'JOIN "{topic}" t{i} ON t{i}.id = t0.id' for i in range(1, 300)),
            "SELECT 1 FROM " + ", ".join(f'"{topic}" t{i}' for i in range(300)),
            f'SELECT 1 FROM "{topic}" a JOIN "{topic}" b ON a.id = b.id, '
            + ", ".join(f'"{topic}" t{i}' for i in range(300)),
            # Nesting costs DataFusion's planner more than exponentially: 45 calls ran for minutes.
            "SELECT " + "abs(" * 45 + "id" + ")" * 45 + f' FROM "{topic}"',
            "SELECT " + "(SELECT " * 30 + "1" + ")" * 30,
        ]
        with connect(sql_port) as conn:
            for sql in hostile:
                started = time.monotonic()
                with pytest.raises(psycopg.Error) as refused:
                    conn.execute(sql)
                assert refused.value.sqlstate == "54001", refused.value
                assert time.monotonic() - started < 5
            # What the bounds admit still runs: a long IN list, a few joins.
            ids = ", ".join(str(i) for i in range(20_000))
            assert conn.execute(f'SELECT count(*) FROM "{topic}" WHERE id IN ({ids})').fetchone() == (10,)
            joined = f'SELECT count(*) FROM "{topic}" t0 ' + " ".join(
                f'JOIN "{topic}" t{i} ON t{i}.id = t0.id' for i in range(1, 6))
            assert conn.execute(joined).fetchone() == (10,)
        produce(broker, topic, [{"value": json.dumps({"id": 10}).encode()}], acks="all")
        with connect(sql_port) as conn:
            assert conn.execute(f'SELECT count(*) FROM "{topic}"').fetchone() == (11,)


def test_given_a_record_produced_now_should_be_visible_to_sql_within_seconds_with_its_new_field(tmp_path):
    topic = f"events-{uuid.uuid4().hex[:6]}"
    args, port, sql_port = sql_broker(tmp_path, [(topic, [])], flush_interval_ms=60_000)
    broker = f"127.0.0.1:{port}"
    with running_broker(tmp_path, args, port):
        create_topic(broker, topic, partitions=1)
        produce(broker, topic, [{"value": json.dumps({"id": 0, "kind": "a"}).encode()}], acks="all")
        path = tmp_path / "lake" / topic
        wait_rows(path, lambda rows: True, "the table to be created")
        with connect(sql_port) as conn:
            latencies = []
            for i in range(1, 11):
                marker = uuid.uuid4().hex
                sent = time.monotonic()
                produce(broker, topic, [{"value": json.dumps({"id": i, "kind": marker}).encode()}], acks="all")
                while True:
                    (n,) = conn.execute(f'SELECT count(*) FROM "{topic}" WHERE kind = %s', (marker,)).fetchone()
                    if n == 1:
                        break
                    assert time.monotonic() - sent < 5, "not visible within 5 s"
                    time.sleep(0.02)
                latencies.append(time.monotonic() - sent)
            print(f"produce → visible in SQL: max {max(latencies):.3f} s over {len(latencies)}")
            # A field no landed row has: a column at once, null in the older rows.
            produce(broker, topic, [{"value": json.dumps({"id": 99, "kind": "b", "region": "eu"}).encode()}], acks="all")
            rows = conn.execute(f'SELECT id, region FROM "{topic}" ORDER BY id').fetchall()
            assert rows[-1] == (99, "eu") and rows[0] == (0, None), rows
            # Nothing landed but the first record: the rest came from the tail.
            assert len(table_rows(path)) <= 1


@pytest.mark.parametrize("envelope", ["maxwell", "canal"])
def test_given_maxwell_or_canal_changes_when_landed_should_apply_inserts_updates_and_deletes(tmp_path, envelope):
    topic = f"cdc-{envelope}-{uuid.uuid4().hex[:6]}"
    args, port, sql_port = sql_broker(
        tmp_path, [(topic, ['mode = "upsert"', 'key = ["id"]', f'envelope = "{envelope}"'])], flush_max_records=7)
    broker = f"127.0.0.1:{port}"

    def event(kind, row):
        if envelope == "maxwell":
            return {"database": "shop", "table": "items", "type": kind, "ts": 1, "xid": 9, "data": row}
        # canal-json: values as strings, typed by sqlType (JDBC codes: 4 INTEGER, 8 DOUBLE, 12 VARCHAR)
        return {"data": [{k: str(v) for k, v in row.items()}], "database": "shop", "table": "items",
                "type": kind.upper(), "isDdl": False, "pkNames": ["id"], "ts": 1,
                "sqlType": {"id": 4, "price": 8, "name": 12}}

    model, messages = {}, []
    for i in range(30):
        row = {"id": i % 10, "price": float(i), "name": f"n{i}"}
        messages.append(event("update" if row["id"] in model else "insert", row))
        model[row["id"]] = row
    for i in (2, 5):
        messages.append(event("delete", model.pop(i)))
    if envelope == "canal":
        messages.append({"data": None, "isDdl": True, "type": "ALTER", "sql": "alter table items add c int"})
    with running_broker(tmp_path, args, port):
        create_topic(broker, topic, partitions=1)
        produce(broker, topic, [{"value": json.dumps(m).encode()} for m in messages], acks="all")
        expected = sorted((r["id"], r["price"], r["name"]) for r in model.values())
        rows = wait_rows(tmp_path / "lake" / topic,
                         lambda rows: sorted((r["id"], r["price"], r["name"]) for r in rows) == expected,
                         "the latest row per key")
        assert len(rows) == 8
        with connect(sql_port) as conn:
            assert sorted(conn.execute(f'SELECT id, price, name FROM "{topic}"').fetchall()) == expected


def test_given_password_authentication_when_users_query_should_apply_the_bus_users_and_topic_acls(tmp_path):
    """`[sql] authentication = "password"`: PostgreSQL's password method against the bus's PLAIN
    and SCRAM users; a table is read only with READ on its topic (managed with `oxbow acl`,
    effective at once); refusals and failed logins are in the audit log."""
    from confluent_kafka.admin import AdminClient, NewTopic

    sales, payroll = "sales-orders", "hr-payroll"
    args, port, sql_port = sql_broker(tmp_path, [(sales, []), (payroll, [])])
    config = tmp_path / "oxbow.toml"
    config.write_text(
        '[security]\nsasl_mechanisms = ["PLAIN", "SCRAM-SHA-512"]\nsuper_users = ["admin"]\n\n'
        '[security.plain_users]\nadmin = "admin-secret"\n\n[sql]\nauthentication = "password"\n\n'
        + config.read_text())
    broker = f"127.0.0.1:{port}"
    sasl = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": "admin", "sasl.password": "admin-secret"}
    props = tmp_path / "admin.properties"
    props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                     'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required '
                     'username="admin" password="admin-secret";\n')

    def cli(*a):
        out = subprocess.run([str(OXBOW), *a, "--bootstrap", broker, "--command-config", str(props)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr

    def as_user(user, password):
        return psycopg.connect(host="127.0.0.1", port=sql_port, user=user, password=password, dbname="oxbow",
                               autocommit=True, connect_timeout=10)

    with running_broker(tmp_path, args, port) as log:
        admin = AdminClient({"bootstrap.servers": broker, **sasl})
        for f in admin.create_topics([NewTopic(t, 1, 1) for t in (sales, payroll)]).values():
            f.result(timeout=30)
        for t in (sales, payroll):
            produce(broker, t, [{"value": json.dumps({"id": i, "amount": i * 10}).encode()} for i in range(20)],
                    acks="all", **sasl)
            wait_rows(tmp_path / "lake" / t, lambda rows: len(rows) == 20, f"{t} landed")
        cli("user", "add", "ana", "--password", "ana-secret", "--mechanism", "SCRAM-SHA-512")

        with pytest.raises(psycopg.OperationalError) as wrong:
            as_user("ana", "guess")
        assert "password authentication failed" in str(wrong.value)
        with pytest.raises(psycopg.OperationalError) as unasked:
            psycopg.connect(host="127.0.0.1", port=sql_port, user="ana", dbname="oxbow", connect_timeout=10)
        assert "password" in str(unasked.value), "refused for want of a password"

        with as_user("admin", "admin-secret") as conn:
            assert conn.execute(f'SELECT count(*), sum(amount) FROM "{payroll}"').fetchone() == (20, 1900)
        with as_user("ana", "ana-secret") as conn:
            # No ACL yet: nothing listed, nothing read; the connection keeps serving.
            assert conn.execute("SELECT table_name FROM information_schema.tables "
                                "WHERE table_schema = 'public'").fetchall() == []
            with pytest.raises(psycopg.Error) as denied:
                conn.execute(f'SELECT count(*) FROM "{sales}"')
            assert denied.value.sqlstate == "42501", denied.value
            assert conn.execute("SELECT 1").fetchone() == (1,)
            cli("acl", "add", "--allow-principal", "User:ana", "--operation", "read",
                "--topic", "sales-", "--resource-pattern-type", "prefixed")
            assert conn.execute(f'SELECT count(*), sum(amount) FROM "{sales}"').fetchone() == (20, 1900)
            with pytest.raises(psycopg.Error) as denied:
                conn.execute(f'SELECT s.id FROM "{sales}" s JOIN (SELECT id FROM "{payroll}") p ON s.id = p.id')
            assert denied.value.sqlstate == "42501", "a table named in a subquery is checked too"
        out = subprocess.run([str(OXBOW), "sql", "--sql", f"127.0.0.1:{sql_port}", "--json", "--user", "ana",
                              f'SELECT count(*) AS n FROM "{sales}"'],
                             capture_output=True, text=True, timeout=60, env=dict(os.environ, PGPASSWORD="ana-secret"))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == [{"n": 20}]
        psql = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(sql_port), "-U", "ana", "-d", "oxbow", "-At", "-c",
             f'SELECT count(*) FROM "{payroll}"'],
            capture_output=True, text=True, timeout=60, env=dict(os.environ, PGPASSWORD="ana-secret"))
        assert psql.returncode != 0 and "permission denied" in psql.stderr, psql.stderr

        audit = tmp_path / "data" / "audit.log"
        deadline = time.monotonic() + 10
        while True:
            events = [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
            denied = [e for e in events if e["event"] == "sql_denied"]
            if len(denied) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert any(e["principal"] == "User:ana" and e["topic"] == payroll for e in denied), events[-5:]
        assert any(e["event"] == "sql_authentication" and e["outcome"] == "failure" for e in events)
