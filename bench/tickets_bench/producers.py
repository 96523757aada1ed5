"""The producer side: tickets/s of kafka-python (its defaults and the product's settings), Kafka's
Java ProducerPerformance on the same bytes, and `make produce` as a whole process (time and memory)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from kafka import KafkaProducer

from tickets_bench.results import WORK, Results, repeat
from tickets_local.brokers import Broker
from tickets_producer.send import producer_config
from tickets_producer.tickets import encode_ticket, generate_tickets


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


def bench_producers(results: Results, broker: Broker, count: int, whole: int, runs: int) -> None:
    """The send loops and Kafka's Java tool on `count` tickets; `make produce` as a whole process on
    `whole` tickets (its memory on whole / 10 as well); each `runs` times."""
    messages = encoded_tickets(count, seed=1)
    size = sum(len(v) for _, v in messages) / len(messages)
    rates = repeat(runs, lambda _: send_all({}, broker, broker.create_topic(), messages))
    results.add("producer.defaults", "kafka-python, defaults (send loop)", rates, "tickets/s")
    rates = repeat(runs, lambda _: send_all(producer_config(), broker, broker.create_topic(), messages))
    results.add("producer.product", "kafka-python, the product's settings (send loop)", rates, "tickets/s")
    for tickets in (whole // 10, whole):
        processes = repeat(runs, lambda _, tickets=tickets: producer_process(broker, tickets))
        results.add(
            f"memory.producer_peak.{tickets}",
            f"make produce peak resident memory, {tickets:,} tickets",
            [peak for _, peak in processes],
            "MiB",
        )
    results.add(
        "producer.make_produce",
        f"make produce, whole process (generation + send), {whole:,} tickets",
        [whole / seconds for seconds, _ in processes],
        "tickets/s",
    )
    payloads = WORK / "payloads.txt"
    payloads.write_bytes(b"\n".join(v for _, v in messages[:10_000]))
    rates = repeat(runs, lambda _: java_producer(broker, payloads, count))
    results.add(
        "producer.java", f"Kafka ProducerPerformance (Java), same tickets (~{size:.0f} B)", rates, "tickets/s"
    )


def java_producer(broker: Broker, payloads: Path, count: int) -> float:
    """Kafka's ProducerPerformance sending `count` of the tickets in `payloads`: records/s."""
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
    return float(re.findall(r"([\d.]+) records/sec", out)[-1])


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


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, 0 if it is gone or has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    high_water = re.search(r"VmHWM:\s+(\d+)", status)  # none once it has exited (a zombie)
    return int(high_water.group(1)) / 1024 if high_water else 0.0
