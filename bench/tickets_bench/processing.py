"""The job draining backlogs, beside its baselines on the same topic: Spark's count-only read
(tickets_bench.count_only), the plain kafka-python consumer (tickets_bench.plain_consumer), the
same work with confluent-kafka and orjson (tickets_bench.fast_consumer) and Kafka's
ConsumerPerformance, each run several times; the job's profile and memory from its events."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from tickets_bench.producers import encoded_tickets, peak_rss_mib, send_all
from tickets_bench.results import BACKLOG_OFFSETS, WORK, Results, median_by, repeat
from tickets_local.brokers import Broker
from tickets_local.jobs import Job, job_env, read_part_counts
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
    startup_seconds: float  # process start to the query's start (the session, jars, checks)
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
    started, launched = time.perf_counter(), time.time()
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
    events = job.events()
    batches = [event for event in events if event["event"] == "batch"]
    [query_started] = [event for event in events if event["event"] == "started"]
    span = event_time(batches[-1]) - event_time(query_started)  # the query's start to its last batch's end
    startup = event_time(query_started) - launched
    return JobRun(job, whole, span, peak, startup, [batch["spark"] for batch in batches])


def event_time(event: dict) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


def spark_count_only(broker: Broker, topic: str, count: int, run: int = 0) -> float:
    work = WORK / f"count-only-{count}-{run}"
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


def python_consumer(module: str, broker: Broker, topic: str, count: int) -> tuple[float, float]:
    """tickets_bench.plain_consumer or .fast_consumer on the backlog: (tickets/s in its loop,
    seconds from start to exit)."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", module, broker.bootstrap, topic, str(count)],
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


@dataclass
class SizeRuns:
    """The runs on one backlog that the largest size's figures need again."""

    topic: str
    jobs: list[JobRun]
    plain: list[tuple[float, float]]  # (tickets/s, seconds from start to exit)
    fast: list[tuple[float, float]]


def bench_size(results: Results, broker: Broker, count: int, runs: int) -> SizeRuns:
    """The five readers on a backlog of `count` tickets, `runs` times each."""
    topic = fill(broker, count)
    label = f"{count:,} backlog"
    # The job as users run it: its consumer group, its dead-letter topic and its metrics on.
    jobs = repeat(runs, lambda run: timed_job(broker, topic, f"job-{count}-{run}", METRICS_PORT=METRICS_PORT))
    for job_run in jobs:
        assert sum(read_part_counts(job_run.job.output_dir).values()) == count
    results.add(
        f"processing.spark_job.{count}",
        f"Spark job, {label}",
        [count / job_run.batch_seconds for job_run in jobs],
        "tickets/s",
    )
    rates = repeat(runs, lambda run: spark_count_only(broker, topic, count, run))
    results.add(f"processing.count_only.{count}", f"Spark count-only read, {label}", rates, "tickets/s")
    consumers = {}
    for name, what in (
        ("plain_consumer", "plain kafka-python"),
        ("fast_consumer", "confluent-kafka + orjson"),
    ):
        module = f"tickets_bench.{name}"
        consumers[name] = repeat(runs, lambda _, module=module: python_consumer(module, broker, topic, count))
        rates = [rate for rate, _ in consumers[name]]
        results.add(f"processing.{name}.{count}", f"{what} consumer, {label}", rates, "tickets/s")
    rates = repeat(runs, lambda _: kafka_consumer_perf(broker, topic, count))
    results.add(
        f"processing.consumer_perf.{count}", f"Kafka ConsumerPerformance, {label}", rates, "tickets/s"
    )
    return SizeRuns(topic, jobs, consumers["plain_consumer"], consumers["fast_consumer"])


def bench_processing(results: Results, broker: Broker, sizes: list[int], runs: int) -> None:
    """The five readers on each backlog size, `runs` times each; on the largest, the whole runs,
    the profile, memory and the cost of monitoring."""
    for count in sizes:
        largest = bench_size(results, broker, count, runs)
    topic, jobs, plain, fast = largest.topic, largest.jobs, largest.plain, largest.fast
    label = f"{count:,} backlog"
    # The last size is the largest: its runs give the whole-run, profile and memory figures, and
    # the cost of monitoring (the same backlog again, with the group, the dead letters and the
    # metrics turned off).
    off = {"KAFKA_GROUP_ID": "off", "DLQ_TOPIC": "off", "METRICS_PORT": "off"}
    bare = repeat(runs, lambda run: timed_job(broker, topic, f"job-{count}-bare-{run}", **off))
    for job_run in bare:
        assert sum(read_part_counts(job_run.job.output_dir).values()) == count
    with_them = median(job_run.batch_seconds for job_run in jobs)
    without = median(job_run.batch_seconds for job_run in bare)
    results.add(
        "monitoring.off",
        f"Spark job, {label}, without group commits, dead-letter topic and metrics",
        [count / job_run.batch_seconds for job_run in bare],
        "tickets/s",
    )
    results.add(
        "monitoring.cost",
        f"Spark job, {label}: median time with them over median time without, minus 1",
        100 * (with_them / without - 1),
        "%",
    )
    results.add(
        "whole.spark_job",
        f"Spark job, bounded, {label}, process start to exit",
        [job_run.whole_seconds for job_run in jobs],
        "s",
    )
    results.add(
        "whole.plain_consumer",
        f"plain consumer, {label}, process start to exit",
        [whole for _, whole in plain],
        "s",
    )
    results.add(
        "whole.fast_consumer",
        f"confluent-kafka + orjson consumer, {label}, process start to exit",
        [whole for _, whole in fast],
        "s",
    )
    typical = median_by(jobs, key=lambda run: run.batch_seconds)
    phases: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    for batch in typical.job.batches():
        phases.update(batch["durations_ms"])
        steps.update(batch.get("sink_ms", {}))
    batches = len(typical.progress)
    for phase in (
        "triggerExecution",
        "addBatch",
        "latestOffset",
        "queryPlanning",
        "walCommit",
        "commitOffsets",
    ):
        what = f"Spark job, {label}: {phase}, summed over {batches} batches (median run)"
        results.add(f"profile.{phase}", what, phases[phase] / 1000, "s")
    for step in ("collect", "dead_letters", "quarantine", "counts", "part"):
        what = f"Spark job, {label}: the sink's {step}, summed over {batches} batches (median run)"
        results.add(f"profile.sink.{step}", what, steps[step] / 1000, "s")
    state = typical.progress[-1]["stateOperators"][0]
    results.add(
        "memory.driver_peak",
        f"driver (JVM) peak resident memory, {label}",
        [job_run.driver_peak_mib for job_run in jobs],
        "MiB",
    )
    results.add(
        "memory.state",
        f"deduplication state: memory (RocksDB), {label}",
        state["memoryUsedBytes"] / 2**20,
        "MiB",
    )
