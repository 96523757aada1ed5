"""Benchmarks, measured side by side in one run on this machine (`make bench`, `make bench-quick`).

Starts a broker of its own (port 19592, state in data/bench), then measures, each figure under a
key of its own (section.what[.size]) and each the median of three runs (one with --quick), its
every run kept beside it:
  producer    tickets/s: kafka-python defaults and the product's settings (send loop alone), Kafka's
              Java ProducerPerformance with the same ticket bytes, `make produce` as a whole process;
  processing  tickets/s draining backlogs: the Spark job, Spark's count-only read, the plain
              kafka-python consumer (tickets_bench.plain_consumer), the same with confluent-kafka
              and orjson (tickets_bench.fast_consumer), Kafka's ConsumerPerformance;
  whole       the job and the two Python consumers on the largest backlog, process start to exit;
  profile     where the job's time goes on the largest backlog (Spark's phases, the sink's steps);
  memory      driver peak memory and deduplication state with the largest backlog's ids;
  monitoring  the job on the largest backlog without its group commits, dead letters and metrics;
  latency     send -> counted in the exported file, p50 and p99, one ticket per request, with the
              job's defaults: from 5 s after the query started (first minute), and steady;
  batch       where a latency batch's milliseconds go (tickets_bench.profile, the median run);
  demo        the 200-ticket demo: job start -> query started, -> final JSON (warm Ivy);
  lake        the largest backlog without the Delta tables, with them local and on S3 (S3Proxy),
              the tables' files and `make query`'s time after it and after minutes at 1,000/s,
              latency without the tables (tickets_bench.lake).
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
from tickets_bench.lake import bench_lake, sustained
from tickets_bench.latency import Latency, demo, latency
from tickets_bench.processing import bench_processing
from tickets_bench.producers import bench_producers
from tickets_bench.results import ROOT, WORK, Results, median_by, repeat
from tickets_local.brokers import Broker

log = logging.getLogger(__name__)


def broker_version() -> str:
    pom = (ROOT / "local" / "kafka" / "pom.xml").read_text()
    return re.search(r"<kafka.version>(.+)</kafka.version>", pom).group(1)


def bench_latency(results: Results, runs: list[Latency], rate: int) -> None:
    """The latency figures, medians over the runs, and the profile of the run with the median
    steady p50."""
    where = f"at {rate} tickets/s, one per request, the job's defaults"
    for name, what in (("first_minute", "from 5 s after query started"), ("steady", "second half")):
        for index, quantile in enumerate(("p50", "p99")):
            results.add(
                f"latency.{quantile}.{name}",
                f"latency {quantile} {where}, {what}",
                [getattr(run, name)[index] for run in runs],
                "s",
            )
    typical = median_by(runs, key=lambda run: run.steady[0])
    for key, millis in typical.profile.items():
        unit = "rows" if key == "rows" else "ms"
        results.add(f"batch.{key}", f"a latency batch (median): {key}", millis, unit)


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
    runs = 1 if args.quick else 3
    sizes = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    try:
        if args.quick:
            bench_producers(results, broker, count=5_000, whole=20_000, runs=runs)
        else:
            bench_producers(results, broker, count=100_000, whole=1_000_000, runs=runs)
        bench_processing(results, broker, sizes, runs)
        rate, seconds = (200, 10) if args.quick else (1000, 40)
        bench_latency(results, repeat(runs, lambda run: latency(broker, rate, seconds, run)), rate)
        demos = repeat(runs, lambda run: demo(broker, run))
        results.add(
            "demo.query_started",
            "200-ticket demo: job start -> query started",
            [started for started, _ in demos],
            "s",
        )
        results.add("demo.final_json", "200-ticket demo: job start -> final JSON", [f for _, f in demos], "s")
        bench_lake(results, broker, sizes[-1], runs, rate, seconds)
        sustained(results, broker, rate, 20 if args.quick else 600)
    finally:
        broker.kafka_sh("down")
    # producer 4, processing 5 per size, whole 3, profile 6 + 5, memory 2 + 2, monitoring 2,
    # latency 4, demo 2, lake 15 + 5 (and the batch profile's figures, as many as the run's stages)
    expected = 4 + 5 * len(sizes) + 3 + 11 + 4 + 2 + 4 + 2 + 15 + 5
    produced = [key for key in results.figures if not key.startswith("batch.")]
    if len(produced) != expected or not any(key.startswith("batch.") for key in results.figures):
        log.error("only %d of %d figures were produced", len(produced), expected)
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
