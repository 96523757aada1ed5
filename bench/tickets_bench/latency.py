"""Latency, send to counted in the exported file, one ticket per request; and the 200-ticket
demo's start-up, as `make run` runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from statistics import quantiles

from kafka import KafkaProducer

from tickets_bench.processing import event_time
from tickets_bench.producers import encoded_tickets
from tickets_bench.results import BACKLOG_OFFSETS, WORK
from tickets_local.run import DEMO_OFFSETS_PER_TRIGGER
from tickets_local.stack import Broker, Job, job_env, read_part_counts, wait_until
from tickets_producer.send import producer_config


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
