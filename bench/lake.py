#!/usr/bin/env python3
"""The lake's landing rate, commit latency and freshness, on a release build.

    bench/lake.sh BIN            (N=1000000 records by default; AVRO=min(N, 1000000) Avro records;
                                  FRESH=100 freshness samples)

1. N JSON records (about 110 bytes: id, customer, amount, currency, ts) are produced to a
   3-partition topic while the broker has no lake table; the broker is stopped.
2. It is started again with the topic as a lake table (`flush_interval_ms` 1000,
   `flush_max_records` 100000): the time until `/lake/status` says all N landed, the broker's
   CPU seconds over that time (from /proc), commits and their durations.
2b. The same for AVRO records of the same fields written by confluent-kafka's AvroSerializer
   (schema registered with the broker's registry), landed as a second table (`value_format =
   "avro"`) after the JSON one has landed: rows/s and rows per broker CPU second.
3. Freshness: one record at a time, produced with acks=all; the time from the acknowledgement
   until `/lake/status` says the table holds it (the Delta commit is written), p50/p99.
4. SQL (psycopg over the PostgreSQL protocol): count/sum and a group-by over all N rows (best
   of 3), and the freshness through SQL: the time from a record's acknowledgement until a query
   returns it (from the live tail; `flush_interval_ms` does not matter), p50/p99.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = sys.argv[1]
N = int(os.environ.get("N", "1000000"))
FRESH = int(os.environ.get("FRESH", "100"))
TOPIC = "bench-json"
AVRO_TOPIC = "bench-avro"
AVRO = int(os.environ.get("AVRO", str(min(N, 1000000))))
AVRO_SCHEMA = """{"type": "record", "name": "Payment", "fields": [{"name": "id", "type": "long"},
 {"name": "customer", "type": "string"}, {"name": "amount", "type": "double"},
 {"name": "currency", "type": "string"}, {"name": "ts", "type": "long"}]}"""
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


SQL_PORT = free_port()
REGISTRY_PORT = free_port()


def start(work, port, hport, config=None):
    args = [BIN, "serve", "--data-dir", str(work / "data"), "--listen", f"127.0.0.1:{port}",
            "--http-listen", f"127.0.0.1:{hport}", "--sql-listen", f"127.0.0.1:{SQL_PORT}"]
    if config:
        args += ["--config", str(config)]
    env = dict(os.environ, OXBOW_LOG_LEVEL="warn", OXBOW_REGISTRY_LISTEN=f"127.0.0.1:{REGISTRY_PORT}")
    proc = subprocess.Popen(args, stdout=open(work / "broker.log", "ab"), stderr=subprocess.STDOUT, env=env)
    waiting = [port, hport]  # the Kafka listener, then the HTTP one (/lake/status)
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.1).close()
            waiting.pop(0)
            if not waiting:
                return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("broker did not start")


def status(hport, topic=TOPIC):
    tables = json.load(urllib.request.urlopen(f"http://127.0.0.1:{hport}/lake/status"))["tables"]
    return next((t for t in tables if t["topic"] == topic), {"commits": 0, "committed": {}, "state": "waiting"})


def land(proc, hport, topic, n):
    """Waits until `topic`'s table holds n records: wall seconds, broker CPU seconds, commit
    durations, the last status."""
    t0, c0 = time.monotonic(), cpu_s(proc.pid)
    durations, last_commits = [], 0
    while True:
        s = status(hport, topic)
        if s["commits"] != last_commits:
            durations.append(s["last_commit_duration_ms"])
            last_commits = s["commits"]
        if sum(s["committed"].values()) >= n:
            break
        if s["state"] == "stopped" and s.get("error"):
            raise SystemExit(f"table stopped: {s['error']}")
        time.sleep(0.05)
    return time.monotonic() - t0, cpu_s(proc.pid) - c0, durations, s


def produce_avro(port, n, rnd):
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    ser = AvroSerializer(SchemaRegistryClient({"url": f"http://127.0.0.1:{REGISTRY_PORT}"}), AVRO_SCHEMA)
    ctx = SerializationContext(AVRO_TOPIC, MessageField.VALUE)
    p = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "linger.ms": 20, "batch.size": 1000000,
                  "queue.buffering.max.messages": 1000000})
    for i in range(n):
        rec = {"id": i, "customer": f"c{rnd.randrange(100000)}", "amount": round(rnd.random() * 1000, 2),
               "currency": rnd.choice(["EUR", "USD", "GBP"]), "ts": 1767225600000 + i}
        while True:
            try:
                p.produce(AVRO_TOPIC, key=f"k{i}".encode(), value=ser(rec, ctx), partition=i % 3)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(120) == 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main():
    work = Path(tempfile.mkdtemp(prefix="oxbow-lake-bench."))
    port, hport = free_port(), free_port()
    data = work / "records.txt"
    rnd = random.Random(7)
    with open(data, "w") as f:
        for i in range(N):
            rec = {"id": i, "customer": f"c{rnd.randrange(100000)}", "amount": round(rnd.random() * 1000, 2),
                   "currency": rnd.choice(["EUR", "USD", "GBP"]), "ts": 1767225600000 + i}
            f.write(f"k{i}\t{json.dumps(rec)}\n")
    size = data.stat().st_size
    proc = start(work, port, hport)
    subprocess.run([BIN, "topic", "create", TOPIC, "--partitions", "3", "--bootstrap", f"127.0.0.1:{port}"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([BIN, "produce", "--topic", TOPIC, "--file", str(data), "-K", "\\t", "--bootstrap",
                    f"127.0.0.1:{port}", "-X", "linger.ms=20", "-X", "batch.size=1000000"], check=True)
    if AVRO:
        subprocess.run([BIN, "topic", "create", AVRO_TOPIC, "--partitions", "3", "--bootstrap",
                        f"127.0.0.1:{port}"], check=True, stdout=subprocess.DEVNULL)
        produce_avro(port, AVRO, rnd)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)

    config = work / "oxbow.toml"
    config.write_text(f'[lake]\nroot = "{work / "lake"}"\nflush_interval_ms = 1000\nflush_max_records = 100000\n'
                      f'[[lake.tables]]\ntopic = "{TOPIC}"\n')
    proc = start(work, port, hport, config)
    wall, cpu, durations, s = land(proc, hport, TOPIC, N)
    last_commits = s["commits"]
    files = s["files"]
    avro = {}
    if AVRO:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        config.write_text(config.read_text() + f'[[lake.tables]]\ntopic = "{AVRO_TOPIC}"\nvalue_format = "avro"\n')
        proc = start(work, port, hport, config)
        a_wall, a_cpu, a_durations, _ = land(proc, hport, AVRO_TOPIC, AVRO)
        avro = {"avro_records": AVRO, "avro_land_wall_s": round(a_wall, 2), "avro_rows_per_s": round(AVRO / a_wall),
                "avro_broker_cpu_s": round(a_cpu, 2), "avro_rows_per_cpu_s": round(AVRO / a_cpu),
                "avro_commit_ms_p50": pct(a_durations, 50) if a_durations else None}

    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "acks": "all", "linger.ms": 0})
    fresh = []
    for i in range(FRESH):
        delivered = {}
        producer.produce(TOPIC, json.dumps({"id": N + i, "customer": "f", "amount": 1.0, "currency": "EUR",
                                            "ts": 0}).encode(), partition=i % 3,
                         on_delivery=lambda err, msg: delivered.update(offset=msg.offset(), err=err))
        producer.flush(10)
        acked = time.monotonic()
        while status(hport)["committed"].get(str(i % 3), 0) <= delivered["offset"]:
            time.sleep(0.005)
        fresh.append(time.monotonic() - acked)
        time.sleep(rnd.random() * 0.2)
    import psycopg
    conn = psycopg.connect(host="127.0.0.1", port=SQL_PORT, user="bench", dbname="oxbow", autocommit=True)
    queries = {
        "count_sum": f'SELECT count(*), sum(amount) FROM "{TOPIC}"',
        "group_by": f'SELECT currency, count(*), avg(amount) FROM "{TOPIC}" GROUP BY currency',
    }
    query_s = {}
    for name, q in queries.items():
        best = None
        for _ in range(3):
            t = time.monotonic()
            conn.execute(q).fetchall()
            best = min(best or 1e9, time.monotonic() - t)
        query_s[name] = round(best, 3)
    (rows,) = conn.execute(f'SELECT count(*) FROM "{TOPIC}"').fetchone()
    sql_fresh = []
    for i in range(FRESH):
        marker = f"m{i}-{rnd.random()}"
        producer.produce(TOPIC, json.dumps({"id": -1, "customer": marker, "amount": 0.0, "currency": "EUR",
                                            "ts": 0}).encode(), partition=i % 3)
        producer.flush(10)
        acked = time.monotonic()
        while conn.execute(f'SELECT count(*) FROM "{TOPIC}" WHERE customer = %s', (marker,)).fetchone()[0] != 1:
            time.sleep(0.002)
        sql_fresh.append(time.monotonic() - acked)
    conn.close()
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    lake_bytes = sum(f.stat().st_size for f in (work / "lake").rglob("*.parquet"))
    print(json.dumps({
        "records": N, "json_bytes": size, "land_wall_s": round(wall, 2),
        "rows_per_s": round(N / wall), "broker_cpu_s": round(cpu, 2), "rows_per_cpu_s": round(N / cpu),
        "commits": last_commits, "files": files, "parquet_bytes": lake_bytes,
        "commit_ms_p50": pct(durations, 50) if durations else None,
        "commit_ms_max": max(durations) if durations else None,
        "freshness_s_p50": round(pct(fresh, 50), 3), "freshness_s_p99": round(pct(fresh, 99), 3),
        "freshness_s_max": round(max(fresh), 3), "freshness_samples": len(fresh),
        "sql_rows": rows, "sql_query_s": query_s,
        "sql_freshness_s_p50": round(pct(sql_fresh, 50), 3), "sql_freshness_s_p99": round(pct(sql_fresh, 99), 3),
        **avro,
    }, indent=1))
    subprocess.run(["rm", "-rf", str(work)])


main()
