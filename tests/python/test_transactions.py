"""Exactly-once consume-transform-produce with confluent-kafka, the job SIGKILLed mid-transaction."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Producer

from test_confluent_kafka import create_topic, read_values

WORKER = Path(__file__).with_name("ctp_worker.py")


def start_worker(broker, topic_in, topic_out):
    return subprocess.Popen(
        [sys.executable, str(WORKER), broker, topic_in, topic_out, "ctp-py", "ctp-py-group", "6"],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_given_transform_job_sigkilled_mid_transaction_when_restarted_should_write_each_output_once(broker):
    topic_in, topic_out = f"ctp-in-{time.time_ns()}", f"ctp-out-{time.time_ns()}"
    create_topic(broker, topic_in)
    create_topic(broker, topic_out)
    inputs = [f"rec-{i:02d}".encode() for i in range(30)]
    producer = Producer({"bootstrap.servers": broker})
    for v in inputs:
        producer.produce(topic_in, value=v, partition=0)
    producer.flush(20)

    job = start_worker(broker, topic_in, topic_out)
    seen = []
    for line in job.stdout:
        seen.append(line.strip())
        # Two transactions committed, the third holding records on the broker: kill it there.
        if line.startswith("open") and sum(s.startswith("committed") for s in seen) >= 2:
            job.send_signal(signal.SIGKILL)
            break
    job.wait(timeout=30)
    assert job.returncode == -signal.SIGKILL, seen

    # The restarted job fences and aborts the open transaction and resumes from its offsets.
    job = start_worker(broker, topic_in, topic_out)
    out, _ = job.communicate(timeout=120)
    assert job.returncode == 0, out
    values = read_values(broker, topic_out, 1, "read_committed")
    assert values == [v.decode().upper() for v in inputs]
