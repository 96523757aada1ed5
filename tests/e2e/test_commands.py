"""The programs as users run them: exit codes, messages, signals, and `make run`'s script."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.harness import expected_counts, produce, read_counts, read_lake
from tickets_job.export import PART_GLOB
from tickets_kafka.probe import dial, speaks_kafka, tls_mismatch
from tickets_kafka.security import KafkaSecurity
from tickets_local.brokers import Broker
from tickets_local.jobs import Job, job_env
from tickets_local.process import ROOT, StepError, wait_until
from tickets_local.spark_cluster import SparkCluster

pytestmark = pytest.mark.e2e

PRODUCER = [sys.executable, "-m", "tickets_producer"]


def run_producer(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        PRODUCER, env={**os.environ, **env}, cwd=ROOT / "tests", capture_output=True, text=True, timeout=120
    )


def test_producer_writes_its_ledger_and_summary(broker, topic, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    result = run_producer(
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "KAFKA_TOPIC": topic,
            "TICKET_COUNT": "40",
            "PRODUCER_LEDGER": str(ledger),
        }
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len({row["ticket_id"] for row in rows}) == 40
    assert re.search(r"sent 40/40, acknowledged 40, failed 0 \(ACCOUNT=\d+", result.stderr)


def test_producer_says_what_to_check_when_the_broker_is_unreachable(tmp_path):
    result = run_producer({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert result.returncode == 2
    assert "cannot reach Kafka at 127.0.0.1:1" in result.stderr
    assert "make broker-up" in result.stderr


def test_producer_says_what_to_check_when_the_topic_is_missing(broker):
    result = run_producer({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_TOPIC": "no_such_topic"})
    assert result.returncode == 2
    assert "topic 'no_such_topic' does not exist" in result.stderr


def test_producer_rejects_bad_configuration_before_connecting():
    result = run_producer({"TICKET_COUNT": "lots", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert result.returncode == 2
    assert "TICKET_COUNT='lots' is not a whole number" in result.stderr
    assert "cannot reach" not in result.stderr


def test_producer_stops_cleanly_on_sigterm(broker, topic, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "KAFKA_TOPIC": topic,
        "TICKET_COUNT": "100000",
        "TICKETS_PER_SECOND": "200",
        "PRODUCER_LEDGER": str(ledger),
    }
    process = subprocess.Popen(PRODUCER, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    assert "sending 100000 tickets" in process.stderr.readline()
    wait_until(lambda: sum(broker.end_offsets(topic).values()) > 0, 60, "the first tickets on the topic")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    sent, acked = map(int, re.search(r"sent (\d+)/100000, acknowledged (\d+)", stderr).groups())
    assert 0 < sent < 100000
    assert acked == sent == len(ledger.read_text().splitlines())


def test_make_run_script_twice_in_a_row(tmp_path):
    """tickets_local.run (what `make run` calls) on a broker and folders of its own."""
    broker = Broker(port=19492, state_dir=tmp_path / "kafka")
    env = {
        **broker.env,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "OUTPUT_DIR": str(tmp_path / "output"),
        "QUARANTINE_DIR": str(tmp_path / "quarantine"),
        "CHECKPOINT_DIR": str(tmp_path / "checkpoint"),
        "LOG_DIR": str(tmp_path / "logs"),
        "IVY_DIR": str(ROOT / "ivy"),
        "TICKET_COUNT": "300",
        "TICKET_SEED": "7",
        # 4040 and 9180 stay free for a Docker stack tested at the same time (it publishes both):
        # the job's UI and its metrics on ports of their own.
        "SPARK_UI_PORT": "14040",
        "METRICS_PORT": "19183",
    }
    results = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "tickets_local", "run"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        results.append(result.stdout)

    path, *lines = results[0].split()
    assert results[1].split()[1:] == lines, "the same seed from a clean slate gives the same counts"
    assert Path(path).parent == tmp_path / "output"
    counts = {row["type"]: row["ticket_count"] for row in map(json.loads, lines)}
    assert set(counts) == {"ACCOUNT", "BILLING", "GENERAL", "TECHNICAL"}
    assert sum(counts.values()) == 300
    assert len(list((tmp_path / "output").glob(PART_GLOB))) == 1
    # The lake (LAKE_URI's default, data/lake) is reset with the rest: the second run's 300 only.
    assert len(read_lake(str(tmp_path / "data" / "lake")).ledger()) == 300
    wait_until(lambda: subprocess.run(["pgrep", "-f", str(tmp_path)]).returncode != 0, 30, "no leftovers")


def test_make_run_with_the_broker_port_taken_says_so_without_a_traceback(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = Broker(port=port, state_dir=tmp_path / "kafka")
        result = subprocess.run(
            [sys.executable, "-m", "tickets_local", "run"],
            env={**broker.env, "OUTPUT_DIR": str(tmp_path / "output"), "LOG_DIR": str(tmp_path / "logs")},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1
    assert f"port {port} is taken by another process: stop it or set KAFKA_PORT" in result.stderr
    assert "ERROR tickets_local.run: kafka.sh up failed (exit 1)" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


# A `setsid` that first stands for the moment between the shell's fork and the exec of Java (slow
# on a busy machine): for two seconds the process's command line names no Java class yet.
SLOW_SETSID = """#!/bin/bash
printf '%s\\0' "$@" >"$0.$$"
exec /bin/bash -c 'sleep 2
  mapfile -d "" -t command <"$1" && rm "$1"
  exec {setsid} "${{command[@]}}"' starting "$0.$$"
"""


@pytest.mark.parametrize("script", ["kafka.sh", "spark.sh"])
def test_the_stacks_scripts_wait_for_a_daemon_whose_java_has_not_started_yet(
    script, broker, tmp_path, monkeypatch
):
    """What CI met on a loaded machine: a Kafka node's pid, checked before its exec, still showed
    the script's own command line, and kafka.sh said the node had exited while it was starting."""
    shim = tmp_path / "bin" / "setsid"
    shim.parent.mkdir()
    shim.write_text(SLOW_SETSID.format(setsid=shutil.which("setsid")))
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")
    port = broker.port + 6  # in this worker's block of ports
    if script == "kafka.sh":
        slow = Broker(port=port, state_dir=tmp_path / "kafka")
        try:
            slow.kafka_sh("up", timeout=120)
            with dial(slow.bootstrap) as raw:
                assert speaks_kafka(raw)
        finally:
            slow.kafka_sh("down")
    else:
        cluster = SparkCluster(port=port, webui_port=port + 1, state_dir=tmp_path / "spark", workers=1)
        try:
            said = cluster.spark_sh("up", timeout=120).stderr
            assert f"ready: {cluster.master} with 1 workers" in said, said
        finally:
            cluster.down()


# A `java` that refuses a Java argument file (the storage tool's, which holds the SCRAM passwords)
# and runs every other command as the real one does.
REFUSING_JAVA = """#!/bin/bash
for argument in "$@"; do case $argument in @*) echo "refusing $argument" >&2; exit 1 ;; esac; done
exec {java} "$@"
"""


def test_the_storage_tools_argument_file_is_removed_when_the_tool_fails(broker, tmp_path, monkeypatch):
    """The file holds every user's password: it was left behind when the format failed."""
    shim = tmp_path / "bin" / "java"
    shim.parent.mkdir()
    shim.write_text(REFUSING_JAVA.format(java=shutil.which("java")))
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")
    failing = Broker(port=broker.port + 6, state_dir=tmp_path / "kafka")
    with pytest.raises(StepError, match=r"kafka.sh up failed"):
        failing.kafka_sh("up", timeout=120)
    assert (tmp_path / "kafka" / "node-1" / "server.properties").is_file()  # it got as far as the format
    assert list((tmp_path / "kafka").rglob("format.args")) == []


def recreate(broker, topic: str) -> None:
    """The topic deleted and created again under its name, as `docker compose down -v` then `up` do."""

    def topics(*args: str) -> str:
        tool = "org.apache.kafka.tools.TopicCommand"
        return broker.kafka_sh("tool", tool, "--bootstrap-server", broker.bootstrap, *args).stdout

    topics("--delete", "--topic", topic)
    wait_until(lambda: topic not in topics("--list").split(), 60, "the topic to be deleted")
    broker.kafka_sh("topic", topic)


def test_job_refuses_a_checkpoint_ahead_of_a_recreated_topic(broker, topic, tmp_path):
    """`docker compose down -v` deletes the topic but not ./data: the job must say so, not loop."""
    env = job_env(broker, topic, tmp_path, BOUNDED="true")
    produce(broker, topic, 90, seed=11)
    assert Job(env, tmp_path / "first.log").start().wait() == 0
    recreate(broker, topic)
    produce(broker, topic, 9, seed=11)

    job = Job(env, tmp_path / "second.log").start()
    assert job.wait() == 3
    position = rf"partition {topic}-\d at \d+, checkpoint at \d+"
    assert re.search(rf"topic '{topic}' ends before the checkpoint's position \({position}\)", job.log())
    assert "make clean" in job.log()
    assert sum(read_counts(tmp_path / "output").values()) == 90  # the first run's result is kept


def test_job_refuses_a_recreated_topic_that_has_passed_the_checkpoints_position(broker, topic, tmp_path):
    """The silent loss: every partition of the new topic reaches the old offsets, so Spark's
    position check passes; the topic's ID in pipeline.json tells the two topics apart."""
    env = job_env(broker, topic, tmp_path, BOUNDED="true")
    produce(broker, topic, 60, seed=12)
    assert Job(env, tmp_path / "first.log").start().wait() == 0
    recorded = json.loads((tmp_path / "checkpoint" / "pipeline.json").read_text())
    recreate(broker, topic)
    ledger = produce(broker, topic, 600, seed=13)  # ten times as many: every partition passes

    job = Job(env, tmp_path / "second.log").start()
    assert job.wait() == 3, job.log()[-3000:]
    assert f"topic '{topic}' (ID " in job.log()
    assert f"read from ('{topic}', ID {recorded['topic_id']})" in job.log()
    assert "make clean" in job.log()
    assert sum(read_counts(tmp_path / "output").values()) == 60  # the first run's result is kept
    assert not (tmp_path / "quarantine").exists()  # nothing of the new topic read

    shutil.rmtree(tmp_path / "checkpoint")  # what `make clean` does, for this test's folders
    shutil.rmtree(tmp_path / "output")
    assert Job(env, tmp_path / "reset.log").start().wait() == 0
    assert read_counts(tmp_path / "output") == expected_counts(ledger)  # every new ticket, once


# Ctrl-C in a terminal sends SIGINT to the whole process group; docker stop sends SIGTERM to the process.
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "docker-stop"])
def test_job_stops_cleanly_on_ctrl_c_and_sigterm(broker, topic, tmp_path, signum):
    job = Job(job_env(broker, topic, tmp_path, EXPECTED_TICKETS="60"), tmp_path / "job.log").start()
    produce(broker, topic, 60, seed=13)
    job.wait_for_total(60)
    wait_until(lambda: "60/60 tickets counted" in job.log(), 60, "the progress line")
    assert job.process is not None
    if signum == signal.SIGINT:
        os.killpg(job.process.pid, signum)
    else:
        job.process.send_signal(signum)
    assert job.wait(timeout=90) == 0, job.log()[-3000:]
    assert [event["error"] for event in job.events("stopped")] == [None]
    assert "INFO tickets_job.app: stopped" in job.log()
    assert "Traceback" not in job.log() and "KeyboardInterrupt" not in job.log()
    # The checkpoint is consistent: a restart resumes at 60 and counts new tickets once.
    restarted = Job(job.env, tmp_path / "job2.log").start()
    produce(broker, topic, 30, seed=14)
    assert sum(restarted.wait_for_total(90).values()) == 90
    assert restarted.stop() == 0


def test_a_killed_job_leaves_no_scratch_files(broker, topic, tmp_path):
    """A driver killed with SIGKILL cannot clean up: its scratch files must be in a folder we remove."""
    job = Job(job_env(broker, topic, tmp_path), tmp_path / "job.log").start()
    produce(broker, topic, 30, seed=16)
    job.wait_for_total(30)
    scratch = job.scratch
    assert scratch is not None
    assert list(scratch.glob("spark-*/userFiles-*/*.jar")), "Spark's local folder is the job's scratch"
    assert list(scratch.glob("librocksdbjni*.so")), "the JVM's temporary folder is the job's scratch"
    job.kill()
    assert not scratch.exists()


class Forwarder(threading.Thread):
    """A TCP port that appears later and leads to the broker, as a broker started late would."""

    def __init__(self, target: int) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = target
        self.listener.close()  # nothing listens there until start()

    def run(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        while True:
            client, _ = self.listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


# A WARN line from the Kafka client or Spark's Kafka source (they repeat at every retry).
KAFKA_RETRY_WARNING = re.compile(r" WARN (NetworkClient|Kafka\w*|AdminClient\w*|Consumer\w*):")


def test_without_a_broker_the_job_waits_saying_so_calmly_and_counts_once_it_comes(broker, topic, tmp_path):
    late = Forwarder(broker.port)
    env = job_env(broker, topic, tmp_path, KAFKA_BOOTSTRAP_SERVERS=f"localhost:{late.port}")
    job = Job(env, tmp_path / "job.log").start()
    try:
        waiting = f"waiting for Kafka at localhost:{late.port}: not reachable"
        wait_until(lambda: job.events("started") and waiting in job.log(), 120, "the wait")
        time.sleep(65)  # past the Kafka client's retries and the Kafka source's first failed lookup (60 s)
        log = job.log()
        assert 3 <= log.count(waiting) <= 4, log[-3000:]
        assert not KAFKA_RETRY_WARNING.search(log), log[-3000:]
        late.start()
        ledger = produce(broker, topic, 40, seed=16)
        job.wait_for_total(40)
        assert f"Kafka at localhost:{late.port} is reachable now" in job.log()
        assert job.stop() == 0
        assert sum(read_counts(job.output_dir).values()) == len(ledger)
    finally:
        if job.process is not None and job.process.poll() is None:
            job.kill()


def test_a_plain_listener_is_recognised_by_a_kafka_request_not_a_tls_probe(broker):
    """The job's start-up check of its TLS setting sends a PLAINTEXT client's broker a Kafka request,
    which it answers, rather than a TLS handshake, which it would log as a broken request."""
    with dial(broker.bootstrap.split(",")[0]) as raw:
        assert speaks_kafka(raw)
    assert tls_mismatch([broker.bootstrap], KafkaSecurity()) is None
