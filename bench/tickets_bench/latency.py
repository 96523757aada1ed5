"""Latency, send to counted in the exported file, one ticket per request, with the job's defaults;
and the 200-ticket demo's start-up, as `make run` runs it.

The tickets are sent with librdkafka (confluent-kafka, installed for the benchmark only), not with
the product's kafka-python: sending 1,000 requests a second takes kafka-python about three
quarters of a core here and librdkafka a tenth (docs/PERFORMANCE.md), and on two cores whatever
the sender burns is taken from the job being measured. Ticket sources are other machines in
production. The exported file is watched by its folder's modification time (a new version is
renamed in), and read only when that changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import quantiles

from confluent_kafka import Producer

from tickets_bench.processing import event_time
from tickets_bench.producers import encoded_tickets
from tickets_bench.profile import breakdown
from tickets_bench.results import WORK
from tickets_local.brokers import Broker
from tickets_local.jobs import Job, job_env, read_part_counts
from tickets_local.process import wait_until
from tickets_local.run import DEMO_OFFSETS_PER_TRIGGER

SETTLE_SECONDS = 5  # tickets are sent from this long after the job's "query started"
STEADY_FROM = 0.5  # the steady figures: tickets sent in the second half of the run


@dataclass(frozen=True)
class Latency:
    """One run's latencies in seconds: over every ticket (from SETTLE_SECONDS after the query
    started: the first minute), and over the second half (steady); and the batches' profile."""

    first_minute: tuple[float, float]  # p50, p99
    steady: tuple[float, float]
    profile: dict[str, float]  # tickets_bench.profile.breakdown of the steady batches


def p50_p99(latencies: list[float]) -> tuple[float, float]:
    cuts = quantiles(latencies, n=100)
    return cuts[49], cuts[98]


def latency(
    broker: Broker, rate: int, seconds: int, run: int = 0, settings: Mapping[str, str] | None = None
) -> Latency:
    """Send `rate` tickets/s for `seconds`, each in a request of its own (linger 0), as independent
    ticket sources send them, starting SETTLE_SECONDS after the job's query started; the job runs
    with its defaults (trigger interval included) unless `settings` (its environment variables)
    change them, and with its event log on, for the profile."""
    topic = broker.create_topic("latency")
    work = WORK / f"latency-{run}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = job_env(broker, topic, work, SPARK_EVENT_LOG_DIR=str(work / "event-log"))
    del env["TRIGGER_INTERVAL"]  # the job's default, not the tests' shorter one
    env.pop("MAX_OFFSETS_PER_TRIGGER", None)
    env.update(settings or {})
    job = Job(env, work / "job.log").start()
    # Durable as the product's producer (acks=all, idempotent); each ticket in a request of its own.
    client = Producer(
        {"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 0}
    )
    messages = encoded_tickets(rate * seconds, seed=99 + run)
    job.wait_until_started()
    time.sleep(SETTLE_SECONDS)
    sent: list[float] = []
    counted: list[tuple[float, int]] = []
    done = threading.Event()

    def watch() -> None:
        last, changed = 0, 0
        while not done.is_set():
            stamp = job.output_dir.stat().st_mtime_ns if job.output_dir.is_dir() else 0
            if stamp != changed:
                changed = stamp
                total = sum(read_part_counts(job.output_dir).values())
                if total != last:
                    counted.append((time.perf_counter(), total))
                    last = total
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    for i, (key, value) in enumerate(messages):
        time.sleep(max(0.0, started + i / rate - time.perf_counter()))
        sent.append(time.perf_counter())
        client.produce(topic, key=key, value=value)
        client.poll(0)  # serve the acknowledgements as they come
    if client.flush(30) != 0:
        raise RuntimeError("the latency run's tickets were not all acknowledged")
    wait_until(lambda: bool(counted) and counted[-1][1] >= len(messages), 120, "every ticket counted")
    done.set()
    watcher.join()
    job.stop()
    latencies, j = [], 0
    for k, t_sent in enumerate(sent):
        while counted[j][1] < k + 1:
            j += 1
        latencies.append(counted[j][0] - t_sent)
    half = int(len(latencies) * STEADY_FROM)
    batches = len(job.batches())
    profile = breakdown(job.progress_file, work / "event-log", skip=batches // 2)
    return Latency(p50_p99(latencies), p50_p99(latencies[half:]), profile)


def demo(broker: Broker, run: int = 0) -> tuple[float, float]:
    """The 200-ticket demo as `make run` does it, warm Ivy cache: seconds from job start to its
    "query started" line, and to the final JSON."""
    topic = broker.create_topic("demo")
    work = WORK / f"demo-{run}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = job_env(broker, topic, work, MAX_OFFSETS_PER_TRIGGER=str(DEMO_OFFSETS_PER_TRIGGER))  # as make run
    del env["TRIGGER_INTERVAL"]  # the job's default, as make run
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
