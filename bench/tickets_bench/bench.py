"""Benchmarks, measured side by side in one run on this machine (`make bench`, `make bench-quick`).

Starts a broker of its own (port 19592, state in data/bench), then measures, each figure under a
key of its own (section.what[.size]):
  producer    tickets/s: kafka-python defaults and the product's settings (send loop alone), Kafka's
              Java ProducerPerformance with the same ticket bytes, `make produce` as a whole process;
  processing  tickets/s draining backlogs: the Spark job, Spark's count-only read, the plain
              kafka-python consumer (tickets_bench.plain_consumer), Kafka's ConsumerPerformance;
  whole       the job and the plain consumer on the largest backlog, process start to exit;
  profile     where the job's time goes on the largest backlog (Spark's progress, by phase);
  memory      driver peak memory and deduplication state with the largest backlog's ids;
  latency     send -> counted in the exported file, p50 and p99, one ticket per request;
  demo        the 200-ticket demo: job start -> query started, -> final JSON (warm Ivy).
tickets_bench.report writes BENCHMARKS.md, benchmarks.png and benchmarks.json into docs/reports/
(this run and the previous one); --quick writes them under data/bench instead.
A timing is never asserted; --quick only checks that every figure was produced.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from statistics import quantiles

from kafka import KafkaProducer

from tickets_bench import report as bench_report
from tickets_local.run import DEMO_OFFSETS_PER_TRIGGER
from tickets_local.stack import Broker, Job, job_env, read_part_counts, wait_until
from tickets_producer.send import producer_config
from tickets_producer.tickets import encode_ticket, generate_tickets

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)
WORK = ROOT / "data" / "bench"
# Records per micro-batch when draining a backlog (the default, tuned by these measurements).
BACKLOG_OFFSETS = "200000"


class Results:
    """The measurements of one run, keyed by name: {key: {"label", "value", "unit"}}."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, object]] = {}

    def add(self, key: str, label: str, value: float, unit: str) -> float:
        log.info("%-34s %-62s %12.2f %s", key, label, value, unit)
        self.figures[key] = {"label": label, "value": value, "unit": unit}
        return value


def encoded_tickets(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    return [encode_ticket(t) for t in generate_tickets(count, seed)]


def send_all(config: dict, broker: Broker, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    """Tickets per second for one kafka-python configuration, until every ack is in."""
    client = KafkaProducer(bootstrap_servers=broker.bootstrap.split(","), **config)
    started = time.perf_counter()
    for key, value in messages:
        client.send(topic, key=key, value=value)
    client.flush()
    elapsed = time.perf_counter() - started
    client.close()
    return len(messages) / elapsed


def bench_producers(results: Results, broker: Broker, count: int) -> None:
    messages = encoded_tickets(count, seed=1)
    size = sum(len(v) for _, v in messages) / len(messages)
    rate = send_all({}, broker, broker.create_topic(), messages)
    results.add("producer.defaults", "kafka-python, defaults (send loop)", rate, "tickets/s")
    rate = send_all(producer_config(), broker, broker.create_topic(), messages)
    results.add("producer.product", "kafka-python, the product's settings (send loop)", rate, "tickets/s")
    for tickets in (count // 10, count):
        seconds, peak = producer_process(broker, tickets)
        results.add(
            f"memory.producer_peak.{tickets}",
            f"make produce peak resident memory, {tickets:,} tickets",
            peak,
            "MiB",
        )
    results.add(
        "producer.make_produce",
        "make produce, whole process (generation + send)",
        count / seconds,
        "tickets/s",
    )
    payloads = WORK / "payloads.txt"
    payloads.write_bytes(b"\n".join(v for _, v in messages[:10_000]))
    out = broker.kafka_sh(
        "tool",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        broker.create_topic(),
        "--num-records",
        str(count),
        "--payload-file",
        str(payloads),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={broker.bootstrap}",
        "acks=all",
        "linger.ms=5",
        "batch.size=262144",
        timeout=900,
    ).stdout
    rate = float(re.findall(r"([\d.]+) records/sec", out)[-1])
    results.add(
        "producer.java", f"Kafka ProducerPerformance (Java), same tickets (~{size:.0f} B)", rate, "tickets/s"
    )


def producer_process(broker: Broker, count: int) -> tuple[float, float]:
    """tickets_producer as `make produce` runs it, sending `count` tickets: (seconds from
    start to exit, its peak resident memory in MiB). The peak is the kernel's high-water mark of
    the program itself, read while it runs: the child's rusage would count this process's memory
    too, which the child holds between its fork and its exec."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_TOPIC": broker.create_topic()}
    log_path = WORK / "producer.log"
    peak = 0.0
    started = time.perf_counter()
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tickets_producer"],
            env={**env, "TICKET_COUNT": str(count)},
            cwd=WORK,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        while process.poll() is None:
            if "tickets_producer" in running_command(process.pid):  # exec'd: its own memory, not ours
                peak = max(peak, peak_rss_mib(process.pid))
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"the producer failed: {log_path.read_text()[-2000:]}")
    return seconds, peak


def running_command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


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


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, 0 if it is gone or has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    high_water = re.search(r"VmHWM:\s+(\d+)", status)  # none once it has exited (a zombie)
    return int(high_water.group(1)) / 1024 if high_water else 0.0


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
        run = timed_job(broker, topic, f"job-{count}")
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
    # The last size is the largest: its runs give the whole-run, profile and memory figures.
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


def latency(broker: Broker, trigger: str, rate: int, seconds: int) -> tuple[float, float]:
    """p50 and p99, in seconds, from a ticket's send to the first export that counts it. Each
    ticket is sent in a request of its own (linger 0), as independent ticket sources send them."""
    topic = broker.create_topic("latency")
    work = WORK / f"latency-{trigger.replace(' ', '-')}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = job_env(broker, topic, work, TRIGGER_INTERVAL=trigger, MAX_OFFSETS_PER_TRIGGER=BACKLOG_OFFSETS)
    job = Job(env, work / "job.log").start()
    client = KafkaProducer(
        bootstrap_servers=broker.bootstrap.split(","), **{**producer_config(), "linger_ms": 0}
    )
    warm_up = encoded_tickets(100, seed=98)  # the first micro-batch of a new JVM is slow: not measured
    for key, value in warm_up:
        client.send(topic, key=key, value=value)
    client.flush()
    job.wait_for_total(len(warm_up))
    messages = encoded_tickets(rate * seconds, seed=99)
    sent: list[float] = []
    counted: list[tuple[float, int]] = []
    done = threading.Event()

    def watch() -> None:
        last = 0
        while not done.is_set():
            total = sum(read_part_counts(job.output_dir).values())
            if total != last:
                counted.append((time.perf_counter(), total))
                last = total
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    for i, (key, value) in enumerate(messages):
        time.sleep(max(0.0, started + i / rate - time.perf_counter()))
        sent.append(time.perf_counter())
        client.send(topic, key=key, value=value)
    client.flush()
    client.close()
    total = len(warm_up) + len(messages)
    wait_until(lambda: bool(counted) and counted[-1][1] >= total, 120, "every ticket counted")
    done.set()
    watcher.join()
    job.stop()
    latencies, j = [], 0
    for k, t_sent in enumerate(sent, start=len(warm_up)):
        while counted[j][1] < k + 1:
            j += 1
        latencies.append(counted[j][0] - t_sent)
    cuts = quantiles(latencies, n=100)
    return cuts[49], cuts[98]


def demo(broker: Broker) -> tuple[float, float]:
    """The 200-ticket demo as `make run` does it, warm Ivy cache: seconds from job start to its
    "query started" line, and to the final JSON."""
    topic = broker.create_topic("demo")
    work = WORK / "demo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = job_env(
        broker,
        topic,
        work,
        TRIGGER_INTERVAL="1 second",
        MAX_OFFSETS_PER_TRIGGER=str(DEMO_OFFSETS_PER_TRIGGER),
    )  # as make run
    subprocess.run(
        [sys.executable, "-m", "tickets_producer"],
        env={**env, "TICKET_COUNT": "200"},
        cwd=work,
        check=True,
        capture_output=True,
    )
    started = time.time()
    job = Job(env, work / "job.log").start()
    job.wait_for_total(200)
    final = time.time() - started
    query_started = event_time(job.events("started")[0]) - started
    job.stop()
    return query_started, final


def broker_version() -> str:
    pom = (ROOT / "local" / "kafka" / "pom.xml").read_text()
    return re.search(r"<kafka.version>(.+)</kafka.version>", pom).group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description="Measure the pipeline against its baselines.")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes; checks that every figure is produced"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("kafka", "py4j"):
        logging.getLogger(name).setLevel(logging.WARNING)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    broker = Broker(port=19592, state_dir=WORK / "kafka")
    broker.up()
    results = Results()
    sizes = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    triggers = ("1 second", "200 milliseconds")
    try:
        bench_producers(results, broker, 5_000 if args.quick else 100_000)
        bench_processing(results, broker, sizes)
        rate, seconds = (200, 5) if args.quick else (1000, 30)
        for trigger in triggers:
            p50, p99 = latency(broker, trigger, rate, seconds)
            name = trigger.replace(" ", "")
            results.add(
                f"latency.p50.{name}", f"latency p50 at {rate} tickets/s, trigger {trigger}", p50, "s"
            )
            results.add(
                f"latency.p99.{name}", f"latency p99 at {rate} tickets/s, trigger {trigger}", p99, "s"
            )
        query_started, final = demo(broker)
        results.add("demo.query_started", "200-ticket demo: job start -> query started", query_started, "s")
        results.add("demo.final_json", "200-ticket demo: job start -> final JSON", final, "s")
    finally:
        broker.kafka_sh("down")
    # producer 4, processing 4 per size, whole 2, profile 6, memory 3 + 2, latency 2 per trigger, demo 2
    expected = 4 + 4 * len(sizes) + 2 + 6 + 5 + 2 * len(triggers) + 2
    if len(results.figures) != expected:
        log.error("only %d of %d figures were produced", len(results.figures), expected)
        return 1
    about = (
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} cores, the local Kafka "
        f"{broker_version()} broker (KRaft, one node) and every client on the same machine, one after "
        "the other"
    )
    report = bench_report.write(
        WORK if args.quick else ROOT / "docs" / "reports", results.figures, about, args.quick
    )
    log.info("wrote %s", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
