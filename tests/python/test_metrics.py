"""`/metrics` with Kafka's names, scraped by a real Prometheus (Debian's `prometheus`, started
here): topic throughput, requests, log sizes, groups, and consumer lag in records and exact
seconds; `/health`, `/ready` and the OpenMetrics format."""

import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import _free_port, _tail, running_broker


@pytest.fixture(scope="module")
def metrics_broker(tmp_path_factory):
    work = tmp_path_factory.mktemp("oxbow-metrics")
    port, hport = _free_port(), _free_port()
    args = ["--listen", f"127.0.0.1:{port}", "--http-listen", f"127.0.0.1:{hport}"]
    with running_broker(work, args, port, env={"OXBOW_HTTP_LISTEN": f"127.0.0.1:{hport}",
                                               "OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS": "0"}) as log:
        url = f"http://127.0.0.1:{hport}"
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/ready", timeout=1).read()
                break
            except OSError:
                assert time.monotonic() < deadline, _tail(log)
                time.sleep(0.05)
        yield {"bootstrap": f"127.0.0.1:{port}", "url": url, "log": log, "work": work, "hport": hport}


def get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def sample(text, name, **labels):
    """The value of the series `name` whose labels include `labels` (None if absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            return float(value)
    return None


@pytest.fixture(scope="module")
def lagging_group(metrics_broker):
    """100 records stamped two minutes ago; a group that committed 60 of them."""
    b = metrics_broker
    topic, group = f"m-{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    stamp = int(time.time() * 1000) - 120_000
    p = Producer({"bootstrap.servers": b["bootstrap"]})
    for i in range(100):
        p.produce(topic, value=f"v{i}".encode(), timestamp=stamp + i)
    assert p.flush(20) == 0
    c = Consumer({"bootstrap.servers": b["bootstrap"], "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, 0, 60)], asynchronous=False)
    c.close()
    return {"topic": topic, "group": group, "stamp": stamp}


def test_given_traffic_when_scraping_should_show_kafkas_names_and_exact_lag(metrics_broker, lagging_group):
    b, g = metrics_broker, lagging_group
    status, ctype, text = get(f"{b['url']}/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    t = g["topic"]
    assert sample(text, "kafka_server_brokertopicmetrics_messagesin_total", topic=t) == 100
    assert sample(text, "kafka_server_brokertopicmetrics_bytesin_total", topic=t) > 100
    assert sample(text, "kafka_server_brokertopicmetrics_messagesin_total") >= 100, "the all-topics total"
    assert sample(text, "kafka_network_requestmetrics_requests_total", request="Produce") >= 1
    assert sample(text, "kafka_network_requestmetrics_totaltimems_count", request="Produce") >= 1
    assert sample(text, "kafka_server_socketservermetrics_connection_count", listener="PLAINTEXT") is not None
    assert sample(text, "kafka_log_log_logendoffset", topic=t, partition="0") == 100
    assert sample(text, "kafka_log_log_size", topic=t, partition="0") > 0
    assert sample(text, "kafka_coordinator_group_groupmetadatamanager_numgroups") >= 1
    assert sample(text, "kafka_consumergroup_group_lag", group=g["group"], topic=t, partition="0") == 40
    assert sample(text, "kafka_consumergroup_group_sum_lag", group=g["group"]) == 40
    # Exact time lag: now minus the timestamp of record 60, the first one not committed.
    lag_s = sample(text, "kafka_consumergroup_group_lag_seconds", group=g["group"], topic=t, partition="0")
    expected = time.time() - (g["stamp"] + 60) / 1000
    assert abs(lag_s - expected) < 2, (lag_s, expected)
    assert abs(sample(text, "kafka_consumergroup_group_max_lag_seconds", group=g["group"]) - expected) < 2
    # acks=all produces waited for fsyncs: their times are in LogFlushStats.
    assert sample(text, "kafka_log_logflushstats_logflushrateandtimems_count") >= 1
    assert sample(text, "kafka_log_logflushstats_logflushrateandtimems_sum") > 0
    idle = sample(text, "kafka_network_socketserver_networkprocessoravgidlepercent")
    busy = sample(text, "oxbow_network_threads_busy_ratio")
    assert 0 <= busy <= 1 and abs(idle + busy - 1) < 1e-9, (idle, busy)
    assert sample(text, "oxbow_network_thread_busy_seconds_total", thread="0") > 0
    assert 0 < sample(text, "oxbow_log_dir_usable_bytes") <= sample(text, "oxbow_log_dir_total_bytes")
    # OpenMetrics when asked; health and readiness.
    status, ctype, om = get(f"{b['url']}/metrics", "application/openmetrics-text; version=1.0.0")
    assert ctype.startswith("application/openmetrics-text") and om.endswith("# EOF\n")
    assert get(f"{b['url']}/health")[0] == 200 and get(f"{b['url']}/ready")[0] == 200


def test_given_a_real_prometheus_when_it_scrapes_should_serve_the_series_through_its_api(metrics_broker, lagging_group, tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not installed (test.sh installs Debian's prometheus package)")
    b, g = metrics_broker, lagging_group
    pport = _free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: oxbow\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{b['hport']}']\n")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{pport}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        query = f'kafka_consumergroup_group_lag{{group="{g["group"]}",topic="{g["topic"]}"}}'
        url = f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        deadline, result = time.monotonic() + 60, []
        while time.monotonic() < deadline and not result:
            try:
                import json
                body = json.loads(get(url)[2])
                result = body["data"]["result"]
            except OSError:
                pass
            if not result:
                time.sleep(0.5)
        assert result, f"Prometheus has no series for {query}:\n{(tmp_path / 'prometheus.log').read_text()[-2000:]}"
        assert float(result[0]["value"][1]) == 40
        assert result[0]["metric"]["cluster_name"] == "oxbow"
        # The scrape itself is healthy.
        up = json.loads(get(f"http://127.0.0.1:{pport}/api/v1/query?query=up")[2])["data"]["result"]
        assert up and up[0]["value"][1] == "1"
    finally:
        proc.terminate()
        proc.wait(10)


def test_given_deploy_files_when_checked_should_use_only_series_the_broker_serves(metrics_broker, lagging_group):
    """The dashboard and the alert rules in deploy/ name only series /metrics has."""
    import json
    import re
    from conftest import REPO
    _, _, text = get(f"{metrics_broker['url']}/metrics")
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    rules = (REPO / "deploy" / "prometheus-rules.yml").read_text()
    dashboard = json.loads((REPO / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    names = set(re.findall(r"\b((?:kafka|process)_[a-z_]+)", rules + "\n".join(exprs)))
    missing = sorted(n for n in names if n not in served)
    assert not missing, f"deploy/ names series /metrics does not serve: {missing}"
    promtool = shutil.which("promtool")
    if promtool:
        out = subprocess.run([promtool, "check", "rules", str(REPO / "deploy" / "prometheus-rules.yml")],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def test_given_a_group_that_stops_when_asking_burrow_should_diagnose_stop_and_keep_the_other_ok(metrics_broker):
    """Burrow's API answered by the broker: a group that keeps up is OK; one that stopped
    committing while records keep coming becomes STOP (ERR for the group) within its window,
    with lag seconds about how long ago it stopped; the CLI says so in words."""
    import json
    import os
    import threading
    from pathlib import Path
    from conftest import REPO
    b = metrics_broker
    topic = f"burrow-{uuid.uuid4().hex[:6]}"
    keeper, stopper = f"keeper-{uuid.uuid4().hex[:4]}", f"stopper-{uuid.uuid4().hex[:4]}"
    running = threading.Event()
    running.set()

    def produce():
        p = Producer({"bootstrap.servers": b["bootstrap"], "linger.ms": 0})
        while running.is_set():
            p.produce(topic, value=b"x")
            p.poll(0)
            time.sleep(0.05)
        p.flush(10)

    def consume(group, seconds):
        c = Consumer({"bootstrap.servers": b["bootstrap"], "group.id": group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False})
        c.subscribe([topic])
        end = time.monotonic() + seconds
        last, committed_at = None, time.monotonic()
        while time.monotonic() < end and running.is_set():
            m = c.poll(0.05)
            if m is not None and not m.error():
                last = m
            # Keeps up with the producer, committing what it read every 0.3 s.
            if last is not None and time.monotonic() - committed_at > 0.3:
                c.commit(message=last, asynchronous=False)
                committed_at = time.monotonic()
        if last is not None:
            c.commit(message=last, asynchronous=False)
        c.close()

    threads = [threading.Thread(target=produce), threading.Thread(target=consume, args=(keeper, 120))]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        consume(stopper, 6)
        stopped_at = time.time()
        cluster = json.loads(get(f"{b['url']}/v3/kafka")[2])["clusters"][0]
        deadline, status = time.monotonic() + 40, None
        while time.monotonic() < deadline:
            status = json.loads(get(f"{b['url']}/v3/kafka/{cluster}/consumer/{stopper}/status")[2])["status"]
            if status["status"] == "ERR":
                break
            time.sleep(0.5)
        assert status["status"] == "ERR", status
        part = status["partitions"][0]
        assert part["status"] == "STOP" and part["topic"] == topic, part
        assert "stopped committing" in part["explanation"]
        assert abs(part["current_lag_seconds"] - (time.time() - stopped_at)) < 2.5, (part, time.time() - stopped_at)
        assert status["maxlag"]["current_lag"] > 0 and status["totallag"] > 0
        ok = json.loads(get(f"{b['url']}/v3/kafka/{cluster}/consumer/{keeper}/status")[2])["status"]
        assert ok["status"] == "OK", ok
        lag = json.loads(get(f"{b['url']}/v3/kafka/{cluster}/consumer/{keeper}/lag")[2])["status"]
        assert len(lag["partitions"]) == 1, "lag lists every partition"
        assert json.loads(get(f"{b['url']}/v3/kafka/{cluster}/topic/{topic}")[2])["offsets"][0] > 0
        binary = Path(os.environ.get("OXBOW_BIN", REPO / "target" / "debug" / "oxbow"))
        out = subprocess.run([str(binary), "group", "describe", stopper, "--bootstrap", b["bootstrap"],
                              "--http", b["url"]], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert "STATUS ERR" in out.stdout and "STOP" in out.stdout and "stopped committing" in out.stdout, out.stdout
    finally:
        running.clear()
        for t in threads:
            t.join(30)


def test_given_a_lag_rule_when_a_group_falls_behind_should_fire_to_a_webhook_and_resolve(tmp_path):
    """`[[alerts.rules]]` evaluated by the broker: a group matching `ledger-*` more than 30 s
    behind fires to the webhook with Alertmanager's payload (version 4), and resolves once the
    group catches up."""
    import http.server
    import json
    import threading
    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    extra = ""
    am = shutil.which("prometheus-alertmanager")
    am_port = _free_port()
    am_proc = None
    if am:
        (tmp_path / "am.yml").write_text("route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n")
        am_proc = subprocess.Popen([am, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am'}",
                                    f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                                   stdout=open(tmp_path / "am.log", "wb"), stderr=subprocess.STDOUT)
        extra = f'\n[[alerts.alertmanagers]]\nurl = "http://127.0.0.1:{am_port}"\n'
    port = _free_port()
    config = tmp_path / "oxbow.toml"
    config.write_text(
        "[alerts]\nevaluation_interval_ms = 200\n\n[[alerts.rules]]\nname = \"ledger-lag\"\n"
        "group = \"ledger-*\"\nmax_lag_seconds = 30\nseverity = \"critical\"\n\n"
        f"[[alerts.webhooks]]\nurl = \"http://127.0.0.1:{server.server_port}/hook\"\n" + extra)
    try:
        with running_broker(tmp_path, ["--config", str(config), "--listen", f"127.0.0.1:{port}"], port) as log:
            topic, group = f"ledger-{uuid.uuid4().hex[:6]}", f"ledger-{uuid.uuid4().hex[:4]}"
            p = Producer({"bootstrap.servers": f"127.0.0.1:{port}"})
            old = int(time.time() * 1000) - 600_000
            for i in range(10):
                p.produce(topic, value=b"x", timestamp=old + i)
            assert p.flush(20) == 0
            c = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": group, "enable.auto.commit": False})
            c.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(b["status"] == "firing" for _, b in received):
                time.sleep(0.1)
            firing = [b for _, b in received if b["status"] == "firing"]
            assert firing, f"no firing alert:\n{_tail(log)}"
            f = firing[0]
            assert f["version"] == "4" and f["alerts"][0]["labels"]["alertname"] == "ledger-lag"
            assert f["alerts"][0]["labels"]["group"] == group and f["alerts"][0]["labels"]["severity"] == "critical"
            assert "behind" in f["alerts"][0]["annotations"]["summary"]
            if am_proc:
                # Alertmanager (Debian's) received it through its API and holds it active.
                import urllib.request as u
                deadline, alerts = time.monotonic() + 20, []
                while time.monotonic() < deadline and not alerts:
                    try:
                        listed = json.loads(u.urlopen(f"http://127.0.0.1:{am_port}/api/v2/alerts", timeout=2).read())
                        alerts = [a for a in listed if a["labels"].get("group") == group]
                    except OSError:
                        pass
                    time.sleep(0.2)
                assert alerts and alerts[0]["labels"]["alertname"] == "ledger-lag", (tmp_path / "am.log").read_text()[-2000:]
            # Catching up resolves it.
            c.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)
            c.close()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(b["status"] == "resolved" for _, b in received):
                time.sleep(0.1)
            resolved = [b for _, b in received if b["status"] == "resolved"]
            assert resolved and resolved[0]["alerts"][0]["labels"]["group"] == group
            assert resolved[0]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    finally:
        server.shutdown()
        if am_proc:
            am_proc.terminate()
            am_proc.wait(10)


def test_given_mail_receivers_when_alerts_fire_and_resolve_should_send_mail_over_smtp(tmp_path):
    """`[[alerts.emails]]`: a lag rule's firing and resolved alerts and a disk-free rule's alert
    reach a real SMTP server (aiosmtpd) as mail from the configured sender to each recipient."""
    from email import message_from_bytes
    from aiosmtpd.controller import Controller

    mails = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            mails.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
            return "250 OK"

    smtp = Controller(Inbox(), hostname="127.0.0.1", port=_free_port())
    smtp.start()
    port = _free_port()
    config = tmp_path / "oxbow.toml"
    config.write_text(
        "[alerts]\nevaluation_interval_ms = 200\n\n"
        "[[alerts.rules]]\nname = \"ledger-lag\"\ngroup = \"ledger-*\"\nmax_lag_records = 5\nseverity = \"critical\"\n\n"
        "[[alerts.rules]]\nname = \"disk-space\"\nmin_disk_free_percent = 100.0\n\n"
        f"[[alerts.emails]]\nurl = \"smtp://127.0.0.1:{smtp.port}\"\nfrom = \"Oxbow <oxbow@bank.example>\"\n"
        "to = [\"oncall@bank.example\", \"ledger-team@bank.example\"]\n")

    def wait_for(pred, what):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = [m for m in mails if pred(m[2])]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no mail {what}; got {[m[2]['Subject'] for m in mails]}")

    try:
        with running_broker(tmp_path, ["--config", str(config), "--listen", f"127.0.0.1:{port}"], port):
            topic, group = f"ledger-{uuid.uuid4().hex[:6]}", f"ledger-{uuid.uuid4().hex[:4]}"
            p = Producer({"bootstrap.servers": f"127.0.0.1:{port}"})
            for i in range(10):
                p.produce(topic, value=b"x")
            assert p.flush(20) == 0
            c = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": group, "enable.auto.commit": False})
            c.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
            sender, rcpts, firing = wait_for(
                lambda m: m["Subject"].startswith("[FIRING] ledger-lag") and group in m["Subject"], "firing")
            assert sender == "oxbow@bank.example"
            assert sorted(rcpts) == ["ledger-team@bank.example", "oncall@bank.example"]
            assert "8 records behind" in firing["Subject"], firing["Subject"]
            assert f"group = {group}" in firing.get_payload(decode=True).decode()
            disk = wait_for(lambda m: m["Subject"].startswith("[FIRING] disk-space"), "for disk space")[2]
            assert "free" in disk["Subject"]
            c.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)
            c.close()
            wait_for(lambda m: m["Subject"].startswith("[RESOLVED] ledger-lag") and group in m["Subject"], "resolved")
    finally:
        smtp.stop()


def test_given_failed_requests_and_rebalances_when_scraping_and_alerting_should_count_and_fire(tmp_path):
    """Refused produces count as failed requests and fire a `max_failed_requests_per_second`
    rule; a group's join counts as a rebalance."""
    import http.server
    import json
    import threading
    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port, hport = _free_port(), _free_port()
    config = tmp_path / "oxbow.toml"
    config.write_text(
        "[alerts]\nevaluation_interval_ms = 300\n\n[[alerts.rules]]\nname = \"failing-requests\"\n"
        "max_failed_requests_per_second = 0.5\n\n"
        f"[[alerts.webhooks]]\nurl = \"http://127.0.0.1:{server.server_port}/\"\n")
    try:
        with running_broker(tmp_path, ["--config", str(config), "--listen", f"127.0.0.1:{port}",
                                       "--http-listen", f"127.0.0.1:{hport}"], port,
                            env={"OXBOW_HTTP_LISTEN": f"127.0.0.1:{hport}", "OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS": "0"}):
            p = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "message.timeout.ms": 3000, "retries": 0})
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not received:
                p.produce("__consumer_offsets", value=b"no")  # refused: an internal topic
                p.flush(3)
                time.sleep(0.1)
            assert received and received[0]["alerts"][0]["labels"]["alertname"] == "failing-requests"
            _, _, text = get(f"http://127.0.0.1:{hport}/metrics")
            failed = [l for l in text.splitlines() if l.startswith("kafka_server_brokertopicmetrics_failedproducerequests_total")]
            assert sample(text, "kafka_server_brokertopicmetrics_failedproducerequests_total") >= 1, failed
            # Asked for before the group coordinator made it, __consumer_offsets was made compacted.
            from confluent_kafka.admin import AdminClient, ConfigResource
            admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
            res = ConfigResource(ConfigResource.Type.TOPIC, "__consumer_offsets")
            configs = admin.describe_configs([res])[res].result(10)
            assert configs["cleanup.policy"].value == "compact"
            p.produce("rebalanced", value=b"x")
            assert p.flush(10) == 0
            c = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": "rb", "auto.offset.reset": "earliest"})
            c.subscribe(["rebalanced"])
            deadline = time.monotonic() + 30
            count = 0
            while time.monotonic() < deadline and not count:
                c.poll(0.5)
                _, _, text = get(f"http://127.0.0.1:{hport}/metrics")
                count = sample(text, "kafka_server_group_coordinator_metrics_group_completed_rebalance_count") or 0
            c.close()
            assert count >= 1
    finally:
        server.shutdown()
