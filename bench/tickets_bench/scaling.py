"""The job in one process (local[*]) against the same job on the 2-worker Spark cluster
(`make bench-scaling`), both draining the same backlog from the same three-node Kafka cluster.

Starts its own Kafka cluster (ports 19992-19997) and Spark cluster (master 17277), fills a topic
with BACKLOG distinct tickets (replication factor 3), runs the job bounded on each, and writes
docs/reports/SCALING-FIGURES.md (the figures, the machine, the command). --quick: a small backlog, the
report under data/bench-scaling, only to check that the script works.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from datetime import datetime, timezone

from tickets_bench.processing import fill, timed_job
from tickets_bench.results import ROOT, WORK
from tickets_local.brokers import Broker
from tickets_local.jobs import read_part_counts
from tickets_local.spark_cluster import SparkCluster, cluster_env

log = logging.getLogger(__name__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small backlog; checks the script works")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("kafka", "py4j"):
        logging.getLogger(name).setLevel(logging.WARNING)
    backlog = 20_000 if args.quick else 500_000
    work = ROOT / "data" / "bench-scaling"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(WORK, ignore_errors=True)
    broker = Broker(port=19992, state_dir=work / "kafka", nodes=3)
    spark = SparkCluster(port=17277, webui_port=18281, state_dir=work / "spark")
    rows = []
    try:
        broker.up()
        spark.up()
        topic = fill(broker, backlog)
        for key, name, env in (
            ("scaling-local", "local[*]: one process, 2 cores", {}),
            ("scaling-cluster", "standalone: 2 workers x 1 core, client-mode driver", cluster_env(spark)),
        ):
            run = timed_job(broker, topic, key, **env)
            assert sum(read_part_counts(run.job.output_dir).values()) == backlog
            rows.append((name, backlog / run.batch_seconds, run.whole_seconds, len(run.progress)))
            log.info("%s: %.0f tickets/s, %.1f s process start to exit", name, rows[-1][1], run.whole_seconds)
    finally:
        spark.down()
        broker.down()
    report = (work if args.quick else ROOT / "docs" / "reports") / "SCALING-FIGURES.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Scaling figures (generated)",
        "",
        f"Written by `make bench-scaling` (tickets_bench.scaling) on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} cores: the job drains a backlog",
        f"of {backlog:,} distinct tickets from a three-node Kafka cluster on the same machine (3 partitions,",
        "replication factor 3), bounded, once per Spark setup.",
        "See [SCALING.md](../SCALING.md) for what they mean.",
        "",
        "| Spark | tickets/s (first batch to exit) | process start to exit | micro-batches |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {rate:,.0f} | {whole:.1f} s | {batches} |" for name, rate, whole, batches in rows),
        "",
    ]
    report.write_text("\n".join(lines))
    log.info("wrote %s", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
