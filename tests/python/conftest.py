"""Starts one `oxbow serve` for the test session on a free loopback port with a temporary data dir.

The binary is $OXBOW_BIN if set, else target/debug/oxbow (build it first: `cargo build -p oxbow`).
The broker runs with `group.initial_rebalance_delay_ms` = 0 (as Kafka's own test setups do), so a
consumer group's first join is not held back 3 s in every group test.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


_PROCESSES = {}


def sigkill(log_path):
    """SIGKILLs the broker `running_broker` started with this log (the block's end then finds it
    gone)."""
    proc = _PROCESSES[log_path]
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@contextlib.contextmanager
def running_broker(work: Path, args, wait_port: int, env=None):
    """Runs `oxbow serve --data-dir WORK/data ARGS...` until the block ends; yields the log path
    once `wait_port` accepts connections."""
    binary = Path(os.environ.get("OXBOW_BIN", REPO / "target" / "debug" / "oxbow"))
    if not binary.exists():
        pytest.fail(f"{binary} not found: run `cargo build -p oxbow` first")
    log_path = work / "broker.log"
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [str(binary), "serve", "--data-dir", str(work / "data"), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        # Many brokers run at once: each one's schema registry on a free port unless told.
        env=dict(os.environ, **{"OXBOW_REGISTRY_LISTEN": "127.0.0.1:0", "OXBOW_HTTP_LISTEN": "127.0.0.1:0", **(env or {})}),
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"oxbow serve exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                with socket.create_connection(("127.0.0.1", wait_port), timeout=0.2):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"oxbow serve not accepting connections after {START_TIMEOUT_S}s:\n{_tail(log_path)}")
            time.sleep(0.05)
        _PROCESSES[log_path] = proc
        yield log_path
    finally:
        _PROCESSES.pop(log_path, None)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    port = _free_port()
    work = tmp_path_factory.mktemp("oxbow")
    with running_broker(work, ["--listen", f"127.0.0.1:{port}"], port,
                        env={"OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS": "0"}):
        yield f"127.0.0.1:{port}"


@pytest.fixture
def topic_name():
    return f"py-{uuid.uuid4().hex[:12]}"
