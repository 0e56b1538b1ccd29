"""Lake tables on S3-compatible object storage (`lake.root = "s3://bucket/prefix"`), served here
by moto's S3 server on loopback: an append table landed exactly once across a SIGKILL, an upsert
table's updates and deletes merged, both read back by the `deltalake` package straight from the
bucket and answered by SQL, the broker reaching the bucket through the standard AWS environment."""

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
from deltalake import DeltaTable

from conftest import _free_port, running_broker, sigkill
from test_confluent_kafka import create_topic, produce
from test_lake import LAND_TIMEOUT_S, lake_broker

BUCKET = "oxbow-lake"


@pytest.fixture
def s3(tmp_path):
    """A moto S3 server with an empty bucket; yields the AWS environment that reaches it."""
    port = _free_port()
    moto = Path(sys.executable).parent / "moto_server"
    log = open(tmp_path / "moto.log", "ab")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.05)
        env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "oxbow",
               "AWS_SECRET_ACCESS_KEY": "oxbow-secret", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="oxbow",
                     aws_secret_access_key="oxbow-secret", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield env
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def s3_rows(env, uri):
    """Every row of the table at `uri`, read from the bucket (None until the table exists)."""
    if not DeltaTable.is_deltatable(uri, storage_options=env):
        return None
    return DeltaTable(uri, storage_options=env).to_pyarrow_table().to_pylist()


def wait_s3_rows(env, uri, done, what):
    deadline = time.monotonic() + LAND_TIMEOUT_S
    rows = None
    while time.monotonic() < deadline:
        rows = s3_rows(env, uri)
        if rows is not None and done(rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; table has {None if rows is None else len(rows)} rows")


def test_given_an_s3_root_when_the_broker_is_sigkilled_mid_stream_should_land_every_record_once_and_answer_sql(
        tmp_path, s3):
    suffix = uuid.uuid4().hex[:6]
    orders, accounts = f"orders-{suffix}", f"accounts-{suffix}"
    sql_port = _free_port()
    args, port = lake_broker(tmp_path, [(orders, ['partition_by = ["day"]']),
                                        (accounts, ['mode = "upsert"', 'key = ["id"]'])],
                             flush_max_records=20, sql_port=sql_port, root=f"s3://{BUCKET}/lake",
                             lake=["compaction_min_files = 4"])
    broker = f"127.0.0.1:{port}"
    orders_uri, accounts_uri = f"s3://{BUCKET}/lake/{orders}", f"s3://{BUCKET}/lake/{accounts}"

    def produce_orders(ids):
        produce(broker, orders, [{"key": f"k{i}".encode(), "value": json.dumps({"id": i, "amount": i}).encode(),
                                  "partition": i % 2} for i in ids], acks="all")

    with running_broker(tmp_path, args, port, env=s3) as log:
        create_topic(broker, orders, partitions=2)
        create_topic(broker, accounts, partitions=1)
        produce_orders(range(0, 1000))
        landed = wait_s3_rows(s3, orders_uri, lambda rows: len(rows) > 0, "the first commit on S3")
        sigkill(log)
        assert len(landed) < 1000, "the broker was to be killed mid-stream"
    with running_broker(tmp_path, args, port, env=s3):
        produce_orders(range(1000, 1500))
        # Upserts: 50 accounts written three times, then every fifth deleted (null value).
        for version in range(3):
            produce(broker, accounts, [{"key": str(i).encode(),
                                        "value": json.dumps({"id": i, "balance": i * 10 + version}).encode()}
                                       for i in range(50)], acks="all")
        produce(broker, accounts, [{"key": str(i).encode(), "value": None} for i in range(0, 50, 5)], acks="all")
        rows = wait_s3_rows(s3, orders_uri, lambda rows: len(rows) >= 1500, "all 1500 records on S3")
        accounts_rows = wait_s3_rows(s3, accounts_uri, lambda rows: len(rows) == 40 and all(
            r["balance"] % 10 == 2 for r in rows), "the accounts' last versions on S3")
        with psycopg.connect(host="127.0.0.1", port=sql_port, user="analyst", dbname="oxbow", autocommit=True,
                             connect_timeout=10) as conn:
            count, total = conn.execute(f'SELECT count(*), sum(amount) FROM "{orders}"').fetchone()
            live = conn.execute(f'SELECT count(*) FROM "{accounts}"').fetchone()[0]

    ids = sorted(r["id"] for r in rows)
    assert ids == list(range(1500)), f"{len(ids)} rows, {len(set(ids))} distinct ids"
    assert (count, total) == (1500, sum(range(1500)))
    assert sorted(r["id"] for r in accounts_rows) == [i for i in range(50) if i % 5], accounts_rows
    assert live == 40
    # Small commits were compacted on the bucket: fewer live files than commits.
    dt = DeltaTable(orders_uri, storage_options=s3)
    assert dt.version() > len(dt.file_uris()), (dt.version(), len(dt.file_uris()))
    assert all(uri.startswith(f"s3://{BUCKET}/lake/{orders}/") for uri in dt.file_uris())
