"""The job draining backlogs, beside its baselines on the same topic: Spark's count-only read
(tickets_bench.count_only), the plain kafka-python consumer (tickets_bench.plain_consumer) and
Kafka's ConsumerPerformance; the job's profile and memory from its events."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from tickets_bench.producers import encoded_tickets, peak_rss_mib, send_all
from tickets_bench.results import BACKLOG_OFFSETS, WORK, Results
from tickets_local.stack import Broker, Job, job_env, read_part_counts
from tickets_producer.send import producer_config

METRICS_PORT = "19181"  # the job's metrics, served during the benchmark as in the Docker stack


def fill(broker: Broker, count: int) -> str:
    """A topic holding `count` distinct tickets (the backlog the consumers race on)."""
    topic = broker.create_topic("backlog")
    batch = 100_000
    for start in range(0, count, batch):
        send_all(
            producer_config(),
            broker,
            topic,
            encoded_tickets(min(batch, count - start), seed=start + 7),
        )
    return topic


@dataclass
class JobRun:
    """One bounded run of the Spark job on a backlog, as measured from outside the process."""

    job: Job
    whole_seconds: float  # process start to exit
    batch_seconds: float  # query start to the end of the last micro-batch, from the job's events
    driver_peak_mib: float  # peak resident memory of the driver's JVM
    progress: list[dict]  # Spark's progress of each micro-batch (PROGRESS_FILE)


def jvm_of(job: Job) -> int | None:
    assert job.process is not None
    pids = subprocess.run(
        ["pgrep", "-P", str(job.process.pid), "java"], capture_output=True, text=True
    ).stdout.split()
    return int(pids[0]) if pids else None


def timed_job(broker: Broker, topic: str, name: str, **env: str) -> JobRun:
    """Run the Spark job in bounded mode, watching its JVM's memory until it exits."""
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {"MAX_OFFSETS_PER_TRIGGER": BACKLOG_OFFSETS, **env}
    started = time.perf_counter()
    job = Job(job_env(broker, topic, work, **env), work / "job.log").start("--bounded")
    assert job.process is not None
    peak = 0.0
    while job.process.poll() is None:
        jvm = jvm_of(job)
        if jvm is not None:
            peak = max(peak, peak_rss_mib(jvm))
        time.sleep(0.2)
    whole = time.perf_counter() - started
    assert job.wait() == 0, job.log()[-2000:]
    progress = [batch["spark"] for batch in job.batches()]
    return JobRun(job, whole, span_of_batches(job), peak, progress)


def event_time(event: dict) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


def span_of_batches(job: Job) -> float:
    """From the query's start to the end of its last micro-batch, from the job's events."""
    [started] = job.events("started")
    return event_time(job.batches()[-1]) - event_time(started)


def spark_count_only(broker: Broker, topic: str, count: int) -> float:
    work = WORK / f"count-only-{count}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = job_env(broker, topic, work, MAX_OFFSETS_PER_TRIGGER=BACKLOG_OFFSETS)
    out = subprocess.run(
        [sys.executable, "-m", "tickets_bench.count_only"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    ).stdout
    result = json.loads(out.splitlines()[-1])
    assert result["rows"] == count, (result, count)
    return count / result["seconds"]


def plain_consumer(broker: Broker, topic: str, count: int) -> tuple[float, float]:
    """tickets_bench.plain_consumer on the backlog: (tickets/s in its loop, seconds from start to exit)."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "tickets_bench.plain_consumer", broker.bootstrap, topic, str(count)],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    ).stdout
    whole = time.perf_counter() - started
    result = json.loads(out)
    assert result["counted"] == count, result
    return count / result["loop_seconds"], whole


def kafka_consumer_perf(broker: Broker, topic: str, count: int) -> float:
    out = broker.kafka_sh(
        "tool",
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server",
        broker.bootstrap,
        "--topic",
        topic,
        "--messages",
        str(count),
        "--timeout",
        "60000",
        timeout=900,
    ).stdout
    header, values = [line for line in out.splitlines() if line.strip()][-2:]
    return float(
        dict(zip([h.strip() for h in header.split(",")], values.split(","), strict=False))["nMsg.sec"]
    )


def bench_processing(results: Results, broker: Broker, sizes: list[int]) -> None:
    """The four readers on each backlog size; on the largest, the whole runs, profile and memory."""
    for count in sizes:
        topic = fill(broker, count)
        label = f"{count:,} backlog"
        # The job as users run it: its consumer group, its dead-letter topic and its metrics on.
        run = timed_job(broker, topic, f"job-{count}", METRICS_PORT=METRICS_PORT)
        assert sum(read_part_counts(run.job.output_dir).values()) == count
        results.add(
            f"processing.spark_job.{count}", f"Spark job, {label}", count / run.batch_seconds, "tickets/s"
        )
        rate = spark_count_only(broker, topic, count)
        results.add(f"processing.count_only.{count}", f"Spark count-only read, {label}", rate, "tickets/s")
        rate, plain_whole = plain_consumer(broker, topic, count)
        results.add(
            f"processing.plain_consumer.{count}", f"plain kafka-python consumer, {label}", rate, "tickets/s"
        )
        rate = kafka_consumer_perf(broker, topic, count)
        results.add(
            f"processing.consumer_perf.{count}", f"Kafka ConsumerPerformance, {label}", rate, "tickets/s"
        )
    # The last size is the largest: its runs give the whole-run, profile and memory figures, and
    # the cost of monitoring (the same backlog again, with the group, the dead letters and the
    # metrics turned off).
    off = {"KAFKA_GROUP_ID": "off", "DLQ_TOPIC": "off", "METRICS_PORT": "off"}
    bare = timed_job(broker, topic, f"job-{count}-bare", **off)
    assert sum(read_part_counts(bare.job.output_dir).values()) == count
    results.add(
        "monitoring.off",
        f"Spark job, {label}, without group commits, dead-letter topic and metrics",
        count / bare.batch_seconds,
        "tickets/s",
    )
    results.add(
        "monitoring.cost",
        f"Spark job, {label}: time with them over time without, minus 1",
        100 * (run.batch_seconds / bare.batch_seconds - 1),
        "%",
    )
    results.add(
        "whole.spark_job", f"Spark job, bounded, {label}, process start to exit", run.whole_seconds, "s"
    )
    results.add("whole.plain_consumer", f"plain consumer, {label}, process start to exit", plain_whole, "s")
    phases: Counter[str] = Counter()
    for batch in run.progress:
        phases.update(batch["durationMs"])
    for phase in (
        "triggerExecution",
        "addBatch",
        "latestOffset",
        "queryPlanning",
        "walCommit",
        "commitOffsets",
    ):
        what = f"Spark job, {label}: {phase}, summed over {len(run.progress)} batches"
        results.add(f"profile.{phase}", what, phases[phase] / 1000, "s")
    state = run.progress[-1]["stateOperators"][0]
    results.add(
        "memory.driver_peak", f"driver (JVM) peak resident memory, {label}", run.driver_peak_mib, "MiB"
    )
    results.add("memory.state_rows", f"deduplication state: ids kept, {label}", state["numRowsTotal"], "rows")
    results.add(
        "memory.state",
        f"deduplication state: memory (RocksDB), {label}",
        state["memoryUsedBytes"] / 2**20,
        "MiB",
    )
