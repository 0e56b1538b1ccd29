"""Debian's Burrow 1.2 (with the local ZooKeeper it needs, Debian's `zookeeper`) watching Oxbow as
it watches Kafka: it reads `__consumer_offsets` (Fetch v2, down-converted), the partitions' ends
(ListOffsets v0) and reports a group that keeps up as OK and one that stopped committing as ERR."""

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import _free_port, _tail, running_broker

ZK_SERVER = Path("/usr/share/zookeeper/bin/zkServer.sh")


def wait_port(port, what, log, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{what} not listening on {port}:\n{_tail(log)}")


def wait_zookeeper(port, log, timeout_s=30):
    """ZooKeeper opens its port before it serves sessions (a client that connects then is dropped):
    waits until its `srvr` command (allowed by default) says which mode it runs in."""
    deadline = time.monotonic() + timeout_s
    reply = b""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"srvr")
                reply = b""
                while chunk := s.recv(4096):
                    reply += chunk
            if b"Mode:" in reply:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"ZooKeeper not serving on {port} (last srvr reply {reply!r}):\n{_tail(log)}")


def status(port, group):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v3/kafka/local/consumer/{group}/status", timeout=2) as r:
            return json.loads(r.read())["status"]
    except (OSError, KeyError, ValueError):
        return None


def test_given_burrow_watching_oxbow_when_one_group_stops_should_report_it_err_and_the_other_ok(tmp_path):
    burrow = shutil.which("Burrow")
    if not burrow or not ZK_SERVER.exists():
        pytest.fail("Debian's burrow and zookeeper are needed (test.sh installs them)")
    zk_port, port, burrow_port = _free_port(), _free_port(), _free_port()
    (tmp_path / "zk").mkdir()
    (tmp_path / "zoo.cfg").write_text(f"tickTime=2000\ndataDir={tmp_path / 'zk'}\nclientPort={zk_port}\n"
                                      "admin.enableServer=false\n")
    zk_log = tmp_path / "zk.log"
    zk = subprocess.Popen([str(ZK_SERVER), "start-foreground", str(tmp_path / "zoo.cfg")],
                          stdout=open(zk_log, "wb"), stderr=subprocess.STDOUT,
                          env={"PATH": "/usr/bin:/bin", "ZOO_LOG_DIR": str(tmp_path)})
    procs = [zk]
    stop = threading.Event()
    threads = []
    try:
        wait_zookeeper(zk_port, zk_log)
        with running_broker(tmp_path, ["--listen", f"127.0.0.1:{port}"], port,
                            env={"OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS": "0"}) as log:
            bootstrap = f"127.0.0.1:{port}"
            topic = "burrowed"
            p = Producer({"bootstrap.servers": bootstrap})
            p.produce(topic, value=b"first")
            assert p.flush(10) == 0
            (tmp_path / "burrow").mkdir()
            (tmp_path / "burrow" / "burrow.toml").write_text(f"""
[general]
pidfile="{tmp_path / 'burrow' / 'burrow.pid'}"
[logging]
level="info"
[zookeeper]
servers=["127.0.0.1:{zk_port}"]
timeout=6
root-path="/burrow"
[client-profile.oxbow]
client-id="burrow"
kafka-version="0.10.0"
[cluster.local]
class-name="kafka"
servers=["{bootstrap}"]
client-profile="oxbow"
topic-refresh=5
offset-refresh=1
[consumer.local]
class-name="kafka"
cluster="local"
servers=["{bootstrap}"]
client-profile="oxbow"
start-latest=false
[httpserver.default]
address="127.0.0.1:{burrow_port}"
[storage.default]
class-name="inmemory"
workers=2
intervals=3
expire-group=604800
min-distance=1
""")
            burrow_log = tmp_path / "burrow.log"
            procs.append(subprocess.Popen([burrow, "-config-dir", str(tmp_path / "burrow")],
                                          stdout=open(burrow_log, "wb"), stderr=subprocess.STDOUT))
            wait_port(burrow_port, "Burrow", burrow_log)

            def produce():
                prod = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
                while not stop.is_set():
                    prod.produce(topic, value=b"x")
                    prod.poll(0)
                    time.sleep(0.02)
                prod.flush(5)

            def commit_loop(group, seconds):
                c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
                end = time.time() + seconds
                while time.time() < end and not stop.is_set():
                    _, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
                    c.commit(offsets=[TopicPartition(topic, 0, high)], asynchronous=False)
                    time.sleep(1)
                c.close()

            threads = [threading.Thread(target=produce), threading.Thread(target=commit_loop, args=("keeper", 90)),
                       threading.Thread(target=commit_loop, args=("stopper", 5))]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            keeper = stopper = None
            while time.monotonic() < deadline:
                keeper, stopper = status(burrow_port, "keeper"), status(burrow_port, "stopper")
                if keeper and stopper and keeper["status"] == "OK" and stopper["status"] == "ERR":
                    break
                time.sleep(0.5)
            assert keeper and keeper["status"] == "OK", (keeper, _tail(burrow_log, 20), _tail(log, 20))
            assert stopper and stopper["status"] == "ERR", (stopper, _tail(burrow_log, 20))
            assert stopper["totallag"] > 0
            assert stopper["partitions"][0]["status"] in ("STOP", "STALL"), stopper
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
