"""Latency under other settings of the job, side by side, to measure one lever at a time:

    python -m tickets_bench.compare [--runs N] [--seconds S] NAME=VAR=VALUE[,VAR=VALUE...] ...

Each NAME is a set of the job's environment variables over its defaults (an empty set, `default=`,
is the defaults); Spark settings the job does not expose go in PYSPARK_SUBMIT_ARGS, for example
`rows=PYSPARK_SUBMIT_ARGS=--conf spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows=true
pyspark-shell`. The sets run in turn, N rounds, on a broker of their own (port 19592), 1,000
tickets/s as `make bench` sends them; each run prints its p50 and p99 (first minute and steady) and
the median batch's parts (tickets_bench.profile).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys

from tickets_bench.latency import latency
from tickets_bench.results import WORK
from tickets_local.brokers import Broker

log = logging.getLogger(__name__)

SHOWN = ("phase.triggerExecution", "phase.addBatch", "sink.collect", "stage.1.wall", "stage.2.wall", "rows")


def settings_set(text: str) -> tuple[str, dict[str, str]]:
    """`NAME=VAR=VALUE,VAR=VALUE` -> (NAME, {VAR: VALUE})."""
    name, _, assignments = text.partition("=")
    pairs = [item.split("=", 1) for item in assignments.split(",") if item]
    return name, {var: value for var, value in pairs}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("sets", nargs="+", type=settings_set, metavar="NAME=VAR=VALUE,...")
    parser.add_argument("--runs", type=int, default=2, help="rounds over the sets (default 2)")
    parser.add_argument("--seconds", type=int, default=40, help="seconds of sending per run (default 40)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("kafka", "py4j", "tickets_local"):
        logging.getLogger(name).setLevel(logging.WARNING)
    shutil.rmtree(WORK / "compare", ignore_errors=True)
    broker = Broker(port=19592, state_dir=WORK / "compare" / "kafka")
    broker.up()
    try:
        for run in range(args.runs):
            for name, settings in args.sets:
                result = latency(broker, 1000, args.seconds, run, settings)
                parts = ", ".join(f"{key} {result.profile.get(key, 0):.0f}" for key in SHOWN)
                log.info(
                    "%-16s first minute p50 %.2f s p99 %.2f s, steady p50 %.2f s p99 %.2f s | %s",
                    name,
                    *result.first_minute,
                    *result.steady,
                    parts,
                )
    finally:
        broker.kafka_sh("down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
