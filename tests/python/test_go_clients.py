"""Debian's Go clients, built here: sarama (golang-github-shopify-sarama-dev 1.22, default
Version 0.8.2; tests/go/sarama_check) with Produce v0 and magic-0 message sets, ListOffsets v0,
Fetch v0 and an offset manager's OffsetCommit v1 / OffsetFetch v1; segmentio kafka-go 0.2
(tests/go/kafka_go_check) with CreateTopics v0, Produce v2, Fetch v2 and a consumer group that
commits and resumes — against the real broker."""

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import _free_port, _tail, running_broker
from test_metrics import get, sample

REPO = Path(__file__).resolve().parents[2]
GOPATH = "/usr/share/gocode"


def go_build(tmp_path_factory, program, library, package):
    """Builds tests/go/PROGRAM against Debian's packaged Go LIBRARY (GOPATH mode, offline)."""
    if not shutil.which("go") or not Path(GOPATH, "src", library).is_dir():
        pytest.fail(f"go and Debian's {package} are needed (test.sh installs them)")
    out = tmp_path_factory.mktemp(program) / program
    env = dict(os.environ, GOPATH=GOPATH, GO111MODULE="off", GOCACHE=str(out.parent / "cache"))
    built = subprocess.run(["go", "build", "-o", str(out), "."], cwd=REPO / "tests/go" / program,
                           env=env, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def sarama_check(tmp_path_factory):
    return go_build(tmp_path_factory, "sarama_check", "github.com/Shopify/sarama", "golang-github-shopify-sarama-dev")


def test_given_debians_sarama_at_its_default_version_when_producing_consuming_and_committing_should_round_trip(
        sarama_check, tmp_path):
    port, hport = _free_port(), _free_port()
    topic, group = f"sarama-{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    with running_broker(tmp_path, ["--listen", f"127.0.0.1:{port}", "--http-listen", f"127.0.0.1:{hport}"], port,
                        env={"OXBOW_HTTP_LISTEN": f"127.0.0.1:{hport}"}) as log:
        run = subprocess.run([str(sarama_check), f"127.0.0.1:{port}", topic, group, "25"],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"{run.stderr}\n{_tail(log)}"
        seen = json.loads(run.stdout.strip().splitlines()[-1])
        assert seen["version"] == "0.8.2.0"
        assert seen["produced"] == list(range(25))
        assert seen["consumed"] == [f"k{i}=sarama-{i}" for i in range(25)]
        assert seen["offsets"] == list(range(25))
        assert (seen["committed"], seen["metadata"]) == (25, "sarama-meta")
        text = get(f"http://127.0.0.1:{hport}/metrics")[2]
        for request, version in (("Produce", 0), ("Fetch", 0), ("ListOffsets", 0), ("OffsetCommit", 1)):
            assert sample(text, "kafka_network_requestmetrics_requests_total",
                          request=request, version=str(version)), (request, version)


@pytest.fixture(scope="module")
def kafka_go_check(tmp_path_factory):
    return go_build(tmp_path_factory, "kafka_go_check", "github.com/segmentio/kafka-go",
                    "golang-github-segmentio-kafka-go-dev")


def test_given_debians_kafka_go_when_writing_and_reading_in_a_group_should_resume_after_its_commits(
        kafka_go_check, tmp_path):
    port, hport = _free_port(), _free_port()
    topic, group = f"kgo-{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    with running_broker(tmp_path, ["--listen", f"127.0.0.1:{port}", "--http-listen", f"127.0.0.1:{hport}"], port,
                        env={"OXBOW_HTTP_LISTEN": f"127.0.0.1:{hport}",
                             "OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS": "0"}) as log:
        run = subprocess.run([str(kafka_go_check), f"127.0.0.1:{port}", topic, group, "20"],
                             capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, f"{run.stderr}\n{_tail(log)}"
        seen = json.loads(run.stdout.strip().splitlines()[-1])
        assert sorted(seen["first"]) == sorted(f"k{i}=kafka-go-{i}" for i in range(20))
        assert sorted(seen["second"]) == sorted(f"k{i}=kafka-go-{i}" for i in range(20, 25)), \
            "the group resumes after its commits"
        text = get(f"http://127.0.0.1:{hport}/metrics")[2]
        for request, version in (("Produce", 2), ("Fetch", 2), ("CreateTopics", 0)):
            assert sample(text, "kafka_network_requestmetrics_requests_total",
                          request=request, version=str(version)), (request, version)
