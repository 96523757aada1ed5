"""The pictures in docs/ (`make pictures`): what a user looks at while the pipeline runs, taken by
headless Chromium (Debian's `chromium`) from a real run on this machine.

    python -m tickets_local pictures

A broker of its own (port 19692), the job with its metrics and Spark UI, Prometheus with the
stack's configuration (tickets_local.prometheus), the producer sending 3,000 tickets at 50 a second
with a few bad messages between them; then:

    docs/pictures/spark-streaming.png     the Spark UI's Structured Streaming tab: the query's statistics
    docs/pictures/prometheus-counts.png   Prometheus graphing tickets_counted by type

Exits 0 with the pictures written, 1 when a step failed (it says which).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kafka import KafkaProducer

from tickets_kafka import program
from tickets_local.brokers import Broker
from tickets_local.jobs import Job, job_env, run_producer
from tickets_local.process import ROOT, StepError, free_port, wait_until
from tickets_local.prometheus import LocalPrometheus

log = logging.getLogger(__name__)

PICTURES = ROOT / "docs" / "pictures"
BROKER_PORT = 19692
TICKETS, RATE = 3000, 50
BAD_MESSAGES = [
    b"not a ticket",
    b"",
    b'{"ticket_id":"x-1","type":"SALES","created_at":"2026-01-01T00:00:00Z"}',
]


def screenshot(url: str, target: Path, size: str = "1400,1000") -> None:
    """`url` as headless Chromium renders it, after its scripts had 15 s of (virtual) time."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise StepError("Chromium is missing: install Debian's package (apt-get install chromium)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",  # as root in a container; the pages are our own local ones
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                "--virtual-time-budget=15000",
                f"--screenshot={target}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    log.info("wrote %s", target.relative_to(ROOT))


def take(work: Path) -> None:
    broker = Broker(port=BROKER_PORT, state_dir=work / "kafka")
    broker.up()
    prometheus = LocalPrometheus(work / "prometheus", metrics_port=free_port(), ui_port=free_port())
    job = None
    try:
        topic = broker.create_topic("client_tickets")
        prometheus.start()
        env = job_env(
            broker,
            topic,
            work / "job",
            METRICS_PORT=str(prometheus.metrics_port),
            SPARK_UI_PORT=str(prometheus.ui_port),
            MAX_OFFSETS_PER_TRIGGER="50",
            TRIGGER_INTERVAL="1 second",
        )
        job = Job(env, work / "job" / "spark.log").start()
        job.wait_until_started()
        producer_env = {**env, "TICKET_COUNT": str(TICKETS), "TICKETS_PER_SECOND": str(RATE)}
        sender = KafkaProducer(bootstrap_servers=broker.bootstrap.split(","))
        for value in BAD_MESSAGES:
            sender.send(topic, value)
        sender.close()
        log.info("sending %d tickets at %d a second", TICKETS, RATE)
        run_producer(producer_env, quiet=True)
        job.wait_for_total(TICKETS, timeout=300)
        wait_until(lambda: prometheus.value("sum(tickets_counted)") == TICKETS, 60, "Prometheus to see them")
        run_id = job.events("started")[-1]["run_id"]
        ui = f"http://127.0.0.1:{prometheus.ui_port}"
        screenshot(
            f"{ui}/StreamingQuery/statistics/?id={run_id}", PICTURES / "spark-streaming.png", "1060,1280"
        )
        graph = "graph?g0.expr=tickets_counted&g0.tab=0&g0.range_input=2m"
        screenshot(f"http://127.0.0.1:{prometheus.port}/{graph}", PICTURES / "prometheus-counts.png")
    finally:
        if job is not None and job.process is not None:
            job.stop()
        prometheus.stop()
        broker.down()


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m tickets_local pictures", description=__doc__.split("\n\n")[0]
    ).parse_args(argv)
    program.start_logging()
    logging.getLogger("kafka").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="client-tickets-pictures-") as work:
        try:
            take(Path(work))
        except (StepError, TimeoutError, subprocess.CalledProcessError) as err:
            log.error("%s", err)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
