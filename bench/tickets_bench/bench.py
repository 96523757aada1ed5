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
import logging
import os
import re
import shutil
import sys
from datetime import datetime, timezone

from tickets_bench import report as bench_report
from tickets_bench.latency import demo, latency
from tickets_bench.processing import bench_processing
from tickets_bench.producers import bench_producers
from tickets_bench.results import ROOT, WORK, Results
from tickets_local.stack import Broker

log = logging.getLogger(__name__)


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
    # producer 4, processing 4 per size, whole 2, profile 6, memory 3 + 2, monitoring 2,
    # latency 2 per trigger, demo 2
    expected = 4 + 4 * len(sizes) + 2 + 6 + 5 + 2 + 2 * len(triggers) + 2
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
