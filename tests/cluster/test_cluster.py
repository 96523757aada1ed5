"""The job on a Spark standalone cluster reading a three-node Kafka cluster, under failures.

Each scenario runs the real processes (tickets_local): the job is the cluster's
client-mode driver, its tasks run in executors on the two workers, the topic has 3 partitions at
replication factor 3 with min.insync.replicas 2. The checks read the part file and the producer's
ledger here, independently of the job's code. Run by `make test-cluster` (marker `cluster`).
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import FIGURES
from tests.harness import (
    command_lines,
    expected_counts,
    ledger_of,
    produce_in_background,
    produce_raw,
    produce_with_ledger,
    read_counts,
    read_quarantine,
)
from tickets_job.export import PART_GLOB
from tickets_local.brokers import Broker
from tickets_local.jobs import Job, job_env
from tickets_local.process import wait_until
from tickets_local.spark_cluster import SparkCluster, cluster_env
from tickets_producer.send import ACK_GRACE_SECONDS, run
from tickets_producer.settings import Settings

pytestmark = pytest.mark.cluster


def cluster_job(broker: Broker, spark: SparkCluster, topic: str, workdir: Path, **extra: str) -> Job:
    env = job_env(broker, topic, workdir, **cluster_env(spark), **extra)
    return Job(env, workdir / "job.log")


class RetryCounter(logging.Handler):
    """Counts the batches kafka-python's sender sends again after an error."""

    def __init__(self) -> None:
        super().__init__()
        self.retried = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            self.retried += 1


def assert_exact(job: Job, ledger: dict[str, str]) -> None:
    assert read_counts(job.output_dir) == expected_counts(ledger)
    assert read_quarantine(Path(job.env["QUARANTINE_DIR"])) == []


def test_1_partition_leader_killed_while_the_producer_sends(kafka_cluster, spark_cluster, healthy, workdir):
    topic = kafka_cluster.create_topic()
    job = cluster_job(kafka_cluster, spark_cluster, topic, workdir).start()
    retries = RetryCounter()
    logging.getLogger("kafka.producer.sender").addHandler(retries)
    try:
        thread, result = produce_in_background(kafka_cluster, topic, 3000, seed=2101, rate=300)
        wait_until(lambda: sum(kafka_cluster.end_offsets(topic).values()) >= 600, 60, "600 tickets in")
        leader = kafka_cluster.leaders(topic)[0]
        kafka_cluster.kill(leader)
        thread.join(timeout=300)
    finally:
        logging.getLogger("kafka.producer.sender").removeHandler(retries)
    summary, ledger = result["summary"], result["ledger"]
    assert summary.failed == {} and len(ledger) == 3000, "the producer retries on the new leader"
    # The controllers fence the killed node after its session times out, then elect a new leader.
    wait_until(lambda: kafka_cluster.leaders(topic).get(0) not in (leader, None), 60, "a new leader")
    job.wait_for_total(len(ledger), timeout=300)
    assert job.stop() == 0
    assert_exact(job, ledger)
    FIGURES.append(
        f"1. leader of partition 0 (node {leader}) killed while sending 3,000 tickets: "
        f"{retries.retried} batches sent again, all 3,000 acknowledged and counted once"
    )


def test_2_a_worker_killed_mid_stream(kafka_cluster, spark_cluster, healthy, workdir):
    topic = kafka_cluster.create_topic()
    job = cluster_job(kafka_cluster, spark_cluster, topic, workdir, MAX_OFFSETS_PER_TRIGGER="300").start()
    thread, result = produce_in_background(kafka_cluster, topic, 4000, seed=2201, rate=400)
    job.wait_for_total(300, timeout=300)
    spark_cluster.kill_worker(1)
    thread.join(timeout=300)
    summary, ledger = result["summary"], result["ledger"]
    assert summary.failed == {}
    job.wait_for_total(len(ledger), timeout=300)
    assert job.stop() == 0
    assert_exact(job, ledger)
    survivor = spark_cluster.state_dir / "worker-2" / "work"
    assert any(survivor.glob("app-*/*/stderr")), "the other worker ran executors"
    FIGURES.append(
        "2. worker 1 and its executor killed mid-stream: the job went on on worker 2, counts exact"
    )


def test_3_driver_killed_mid_batch_and_restarted_on_its_checkpoint(
    kafka_cluster, spark_cluster, healthy, workdir
):
    topic = kafka_cluster.create_topic()
    _, ledger = produce_with_ledger(
        Settings(bootstrap_servers=kafka_cluster.bootstrap, topic=topic, ticket_count=3000, ticket_seed=2301)
    )
    job = cluster_job(kafka_cluster, spark_cluster, topic, workdir, MAX_OFFSETS_PER_TRIGGER="500")
    job.start().wait_for_total(1, timeout=300)
    time.sleep(random.Random(3).uniform(0.2, 1.5))  # into a later batch, at no particular point
    before = sum(read_counts(job.output_dir).values())
    job.kill()
    assert before < 3000, "killed before the end"
    job.start().wait_for_total(3000, timeout=300)
    assert job.stop() == 0
    assert_exact(job, ledger)
    FIGURES.append(
        f"3. driver killed (SIGKILL) with {before:,} of 3,000 counted, restarted on its checkpoint: exact"
    )


GIVE_UP_AFTER_S = 40  # the producer's delivery time-out in scenario 4


def test_4_two_of_three_brokers_down(kafka_cluster, spark_cluster, healthy, workdir):
    topic = kafka_cluster.create_topic()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_cluster.bootstrap,
        "KAFKA_TOPIC": topic,
        "TICKET_COUNT": "2000",
        "TICKET_SEED": "2401",
        "TICKETS_PER_SECOND": "100",
        "PRODUCER_LEDGER": str(workdir / "first.jsonl"),
        "PRODUCER_DELIVERY_TIMEOUT_MS": str(GIVE_UP_AFTER_S * 1000),  # not the default 120 s
    }
    command = [sys.executable, "-m", "tickets_producer"]
    # Chosen before the producer starts, and its progress read from its ledger: the 17 s it sends
    # after the 300th ticket must not go to Kafka's tools (a JVM each, seconds on a loaded machine;
    # the producer once finished all 2,000 before the nodes went down).
    down = [node for node in (1, 2, 3) if node != kafka_cluster.leaders(topic)[0]]
    ledger = workdir / "first.jsonl"
    started = time.monotonic()
    first = subprocess.Popen(command, env=env, cwd=workdir, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: ledger.exists() and ledger.read_text().count("\n") >= 300, 60, "300 tickets in")
    for node in down:
        kafka_cluster.kill(node)
    _, stderr = first.communicate(timeout=300)
    elapsed = time.monotonic() - started
    assert first.returncode == 1, stderr[-3000:]
    assert "not enough in-sync replicas" in stderr, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert elapsed < 20 + GIVE_UP_AFTER_S + ACK_GRACE_SECONDS + 15
    acknowledged = ledger_of(workdir / "first.jsonl")
    assert 300 <= len(acknowledged) < 2000

    kafka_cluster.up()
    env["PRODUCER_LEDGER"] = str(workdir / "second.jsonl")
    again = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    ledger = ledger_of(workdir / "second.jsonl")
    assert acknowledged.items() <= ledger.items()

    job = cluster_job(kafka_cluster, spark_cluster, topic, workdir).start("--bounded")
    assert job.wait(timeout=300) == 0, job.log()[-3000:]
    assert_exact(job, ledger)
    FIGURES.append(
        f"4. nodes {down} of 3 down while sending: the producer gave up after {elapsed:.0f} s "
        f"naming the cause, {len(acknowledged):,} acknowledged before; the same command then sent all 2,000; "
        "every acknowledged ticket counted once"
    )


def test_5_the_cluster_run_equals_the_local_run(kafka_cluster, spark_cluster, healthy, workdir):
    topic = kafka_cluster.create_topic()
    settings = Settings(bootstrap_servers=kafka_cluster.bootstrap, topic=topic, ticket_count=2000)
    _, ledger = produce_with_ledger(settings)
    run(settings)  # every ticket a second time: duplicates
    produce_raw(kafka_cluster, topic, [b"not json", b'{"ticket_id": 1}', None])
    outputs = {}
    for name, extra in (("local", {}), ("cluster", cluster_env(spark_cluster))):
        env = job_env(kafka_cluster, topic, workdir / name, MAX_OFFSETS_PER_TRIGGER="1000", **extra)
        job = Job(env, workdir / f"{name}.log").start("--bounded")
        assert job.wait(timeout=300) == 0, job.log()[-3000:]
        (part,) = (workdir / name / "output").glob(PART_GLOB)
        quarantined = read_quarantine(workdir / name / "quarantine")
        outputs[name] = (
            part.read_text(),
            sorted((q["partition"], q["offset"], q["reason"]) for q in quarantined),
        )
    assert outputs["cluster"] == outputs["local"]
    assert read_counts(workdir / "cluster" / "output") == expected_counts(ledger)
    assert len(outputs["cluster"][1]) == 3
    FIGURES.append(
        "5. the same 4,003 messages on local[*] and on the cluster: the same part file and quarantine"
    )


def test_6_the_master_takes_only_applications_that_know_the_clusters_secret(spark_cluster, tmp_path):
    """spark.authenticate on the master, the workers and the job (local/spark/auth.sh): an
    application without the secret is refused at registration, one with it runs its tasks; the
    secret is in no process's arguments. Before, any local user could run code as the cluster's
    owner, and tasks carried the Kafka options over plain RPC."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_UI_PORT": "14600", "CLASS_ARCHIVE": "false"}
    command = [sys.executable, "-m", "tests.cluster.spark_app"]
    with_secret = {**env, **cluster_env(spark_cluster)}
    done = subprocess.run(command, env=with_secret, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "counted 100" in done.stderr, done.stderr[-3000:]

    without = {**with_secret, "SPARK_PROPERTIES_FILE": ""}
    log = tmp_path / "stranger.log"
    with log.open("w") as output:
        stranger = subprocess.Popen(command, env=without, stdout=output, stderr=subprocess.STDOUT)
        try:  # Spark tries three times, 20 s each, before it gives up: the first refusal is enough
            wait_until(lambda: "Failed to connect to master" in log.read_text(), 120, "the master's refusal")
        finally:
            stranger.kill()
            stranger.wait()
    assert "Expected SaslMessage" in log.read_text()  # the master asked for the secret's proof
    assert "counted" not in log.read_text()

    secret = next(
        line.split()[1]
        for line in spark_cluster.properties.read_text().splitlines()
        if line.startswith("spark.authenticate.secret ")
    )
    assert spark_cluster.properties.stat().st_mode & 0o777 == 0o600
    arguments = b"".join(command_lines())
    assert b"spark.deploy.master.Master" in arguments and secret.encode() not in arguments
