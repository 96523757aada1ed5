"""What users watch, against the real broker and the real job: the job's consumer group and its lag
(read with Kafka's own kafka-consumer-groups.sh), its metrics as a real Prometheus (Debian's
`prometheus`) scrapes them with the Docker stack's own config, every query of the Grafana dashboard
answered by that Prometheus, and the dead-letter topic.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.e2e.test_reliability import MALFORMED
from tests.harness import group_lag, produce, produce_raw, read_counts, read_quarantine, read_records
from tickets_job.app import QUERY
from tickets_local.brokers import Broker
from tickets_local.jobs import Job, job_env
from tickets_local.process import ROOT, free_port, wait_until
from tickets_local.prometheus import STACK_CONFIG, LocalPrometheus, dashboard_queries
from tickets_producer.tickets import iso_utc, utc_now

pytestmark = pytest.mark.e2e

REDPANDA_ONLY = 'job="redpanda"'  # no Redpanda here: Apache Kafka serves no Prometheus metrics


def test_the_consumer_group_shows_the_jobs_lag(broker, topic, workdir):
    group = f"lag-{topic}"
    env = job_env(broker, topic, workdir, KAFKA_GROUP_ID=group)
    job = Job(env, workdir / "job.log").start()
    produce(broker, topic, 200, seed=3101)
    job.wait_for_total(200)
    wait_until(lambda: set(group_lag(broker, group).values()) == {0}, 60, "the group at lag 0")
    assert len(group_lag(broker, group)) == 3  # every partition
    assert job.stop() == 0

    produce(broker, topic, 1000, seed=3102)  # while the job is stopped
    assert sum(group_lag(broker, group).values()) == 1000

    job = Job(env, workdir / "job2.log").start()
    job.wait_for_total(1200)
    wait_until(lambda: set(group_lag(broker, group).values()) == {0}, 60, "the group at lag 0 again")
    assert job.stop() == 0
    assert "behind" in job.log() and "cannot commit" not in job.log()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[LocalPrometheus]:
    """Prometheus (Debian's) with the stack's config, scraping this test's job and Spark UI ports."""
    server = LocalPrometheus(tmp_path / "prometheus", metrics_port=free_port(), ui_port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()


def test_prometheus_scrapes_the_job_and_every_dashboard_query_has_data(broker, topic, workdir, prometheus):
    ports = {"METRICS_PORT": str(prometheus.metrics_port), "SPARK_UI_PORT": str(prometheus.ui_port)}
    job = Job(job_env(broker, topic, workdir, **ports), workdir / "job.log").start()
    ledger = produce(broker, topic, 300, seed=3201)
    now = iso_utc(utc_now()).encode()
    produce_raw(broker, topic, [v.replace(b"@now", now) if v else v for _, v, _ in MALFORMED[:6]])
    job.wait_for_total(len(ledger))
    wait_until(lambda: len(read_quarantine(workdir / "quarantine")) == 6, 60, "the quarantine")

    total = sum(read_counts(workdir / "output").values())
    wait_until(lambda: prometheus.value("sum(tickets_counted)") == total, 60, "Prometheus to see the total")
    quarantined = len(read_quarantine(workdir / "quarantine"))
    assert prometheus.value("sum(tickets_quarantined_total)") == quarantined
    latency = f"metrics_client_tickets_driver_spark_streaming_{QUERY}_latency_Value"
    assert prometheus.value(latency) is not None
    for job_name in ("tickets-job", "spark", "spark-executors"):
        assert prometheus.value(f'up{{job="{job_name}"}}') == 1.0, job_name

    # Every query of the dashboard returns data here, but those over Redpanda's own metrics.
    queries = [promql for promql in dashboard_queries() if REDPANDA_ONLY not in promql]
    assert len(queries) >= 8
    for promql in queries:  # rate() over 1m needs two scrapes of a counter (1 s apart)
        wait_until(lambda promql=promql: prometheus.query(promql) != [], 30, f"data for {promql}")
    assert job.stop() == 0


def test_promtool_accepts_the_stacks_prometheus_config_and_its_alerts():
    promtool = ["promtool", "check", "config", str(STACK_CONFIG)]
    checked = subprocess.run(promtool, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rules found" in checked.stdout + checked.stderr  # alerts.yml, read through the config


def test_a_missing_dead_letter_topic_stops_the_job_with_exit_2(broker: Broker, workdir):
    topic = "no_dlq_" + workdir.name[-8:].replace("-", "_")
    broker.tool("org.apache.kafka.tools.TopicCommand", "--create", "--topic", topic, "--partitions", "1")
    job = Job(job_env(broker, topic, workdir), workdir / "job.log").start()
    assert job.wait(timeout=120) == 2
    errors = [line for line in job.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"dead-letter topic '{topic}.dlq' does not exist" in errors[0], errors
    assert read_counts(workdir / "output") == {}


def test_a_batch_run_again_after_kill_9_leaves_one_live_dead_letter_per_message(broker, topic, workdir):
    """kill -9 once the dead letters of a batch are written, before Spark commits the batch: the
    restarted job writes them again with the same keys; read by key (as compaction keeps them),
    each rejected message is there once, byte for byte."""
    env = job_env(broker, topic, workdir, MAX_OFFSETS_PER_TRIGGER="20", TRIGGER_INTERVAL="100 milliseconds")
    dlq = f"{topic}.dlq"
    watch = KafkaConsumer(bootstrap_servers=broker.bootstrap.split(","))
    dlq_partitions = [TopicPartition(dlq, partition) for partition in range(3)]
    rejected: dict[bytes, bytes] = {}
    reruns = 0
    for attempt in range(5):
        job = Job(env, workdir / f"job-{attempt}.log").start()
        job.wait_until_started()
        before = sum(watch.end_offsets(dlq_partitions).values())
        values = [f"not a ticket {attempt}-{i}".encode() for i in range(40)]
        places = produce_raw(broker, topic, values)
        rejected |= {f"{topic}-{p}-{o}".encode(): v for (p, o), v in zip(places, values, strict=True)}
        deadline = time.monotonic() + 60
        while sum(watch.end_offsets(dlq_partitions).values()) == before:  # polled every few ms
            assert time.monotonic() < deadline, "no dead letters within 60 s"
        job.kill()  # right after the first dead letters of a batch reach the topic
        records = read_records(broker, dlq)
        keys = [record.key for record in records]
        reruns += len(keys) - len(set(keys))
        job = Job(env, workdir / f"job-{attempt}-after.log").start()
        quarantined = len(rejected)
        wait_until(
            lambda n=quarantined: len(read_quarantine(workdir / "quarantine")) == n, 120, "the quarantine"
        )
        assert job.stop() == 0
        if reruns:
            break
    records = read_records(broker, dlq)
    latest = {record.key: record for record in records}  # the newest record of each key, as compaction keeps
    assert latest.keys() == rejected.keys()
    assert {key: record.value for key, record in latest.items()} == rejected
    copies = [record for record in records if record.key == records[0].key]
    assert all(copy.value == copies[0].value and copy.headers[:4] == copies[0].headers[:4] for copy in copies)
    watch.close()
    assert reruns > 0, "no kill landed between a batch's dead letters and its commit in 5 attempts"
    assert sum(read_counts(workdir / "output").values()) == 0


def documented_replay() -> list[str]:
    """The kcat commands of docs/MONITORING.md's replay, as a user would copy them."""
    text = (ROOT / "docs" / "MONITORING.md").read_text()
    block = re.search(r"\*\*Replaying fixed messages\.\*\*.*?```bash\n(.*?)```", text, re.S)
    assert block is not None
    return [line.split("#")[0].strip() for line in block[1].splitlines() if line.startswith("kcat ")]


def test_the_documented_replay_gets_fixed_dead_letters_counted(broker, topic, workdir):
    """Tickets of an unknown type end in the dead-letter topic; the type fixed in the file that the
    documented kcat command wrote, the documented command sends them back, and they are counted."""
    now = iso_utc(utc_now())
    wrong = [f'{{"ticket_id":"replay-{i}","type":"SALES","created_at":"{now}"}}'.encode() for i in range(5)]
    produce_raw(broker, topic, wrong)
    job = Job(job_env(broker, topic, workdir), workdir / "job.log").start()
    wait_until(lambda: len(read_quarantine(workdir / "quarantine")) == 5, 120, "the quarantine")

    read, replay = documented_replay()
    mapping = {"localhost:19092": broker.bootstrap, "client_tickets.dlq": f"{topic}.dlq"}
    for old, new in mapping.items():
        read = read.replace(old, new)
    subprocess.run(read, shell=True, cwd=workdir, check=True, timeout=60)
    lines = (workdir / "dead-letters.jsonl").read_text().splitlines()
    assert sorted(lines) == sorted(value.decode() for value in wrong)
    fixed = "".join(line.replace("SALES", "BILLING") + "\n" for line in lines)
    (workdir / "dead-letters.jsonl").write_text(fixed)
    replay = replay.replace("localhost:19092", broker.bootstrap).replace(" client_tickets ", f" {topic} ")
    subprocess.run(replay, shell=True, cwd=workdir, check=True, timeout=60)

    assert job.wait_for_total(5) == {"BILLING": 5}
    assert job.stop() == 0
