"""What the lake costs (tickets_job.lake): the largest backlog drained without the tables, with
them on local disk and with them (and the checkpoint) on the S3 server; the tables' files and
`make query`'s time after it; latency at 1,000 tickets/s without the tables, beside the
default run's (which writes them).

    python -m tickets_bench.lake [--quick]     (make bench runs it as its section `lake`)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from statistics import median

from tickets_bench.latency import latency
from tickets_bench.processing import fill, timed_job
from tickets_bench.report import lake_report
from tickets_bench.results import ROOT, WORK, Results, repeat
from tickets_local.brokers import Broker
from tickets_local.jobs import read_part_counts
from tickets_local.s3 import S3Server

log = logging.getLogger(__name__)

S3_PORT = 19597  # beside the benchmark's broker (19592)


def files_of(lake: Path) -> int:
    """The data files the `tickets` table's folder holds (a compaction's inputs stay until VACUUM)."""
    return sum(1 for _ in (lake / "tickets").rglob("*.parquet"))


def live_files(lake: str, storage_options: dict[str, str] | None = None) -> int:
    """The data files of the `tickets` table's latest version (what a reader opens), by delta-rs."""
    from deltalake import DeltaTable

    return len(DeltaTable(f"{lake}/tickets", storage_options=storage_options).file_uris())


def query_seconds(lake: str, env: dict[str, str] | None = None) -> float:
    """`make query`'s default query, as a whole process, over the lake at `lake`."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tickets_query"],
        env={**os.environ, **(env or {}), "LAKE_URI": lake},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def bench_lake(results: Results, broker: Broker, count: int, runs: int, rate: int, seconds: int) -> None:
    topic = fill(broker, count)
    label = f"{count:,} backlog"
    server = S3Server(S3_PORT, WORK / "s3").up()
    try:

        def on_s3(run: int) -> dict[str, str]:
            prefix = f"s3a://{server.bucket}/{topic}/run-{run}"  # the server keeps earlier runs
            return {"LAKE_URI": f"{prefix}/lake", "CHECKPOINT_DIR": f"{prefix}/checkpoint", **server.env}

        forms = {
            "off": lambda _: {"LAKE_URI": "off"},
            "local": lambda run: {"LAKE_URI": str(WORK / f"lake-local-{run}" / "lake")},
            "s3": on_s3,
        }
        seconds_of = {}
        for form, env_of in forms.items():
            jobs = repeat(
                runs,
                lambda run, form=form, env_of=env_of: timed_job(
                    broker, topic, f"lake-{form}-{run}", **env_of(run)
                ),
            )
            for job_run in jobs:
                assert sum(read_part_counts(job_run.job.output_dir).values()) == count
            seconds_of[form] = median(job_run.batch_seconds for job_run in jobs)
            results.add(
                f"lake.throughput.{form}",
                f"Spark job, {label}, tables {form}",
                [count / job_run.batch_seconds for job_run in jobs],
                "tickets/s",
            )
            results.add(
                f"lake.startup.{form}",
                f"the job's start to its query's, tables {form}",
                [job_run.startup_seconds for job_run in jobs],
                "s",
            )
            results.add(
                f"lake.driver_peak.{form}",
                f"driver JVM peak RSS, {label}, tables {form}",
                [job_run.driver_peak_mib for job_run in jobs],
                "MiB",
            )
            if form == "local":
                lake = str(jobs[-1].job.lake)
                results.add(
                    "lake.files.backlog",
                    f"tickets table's live files after the {label}",
                    live_files(lake),
                    "files",
                )
                results.add("lake.query.backlog", f"make query after the {label}", query_seconds(lake), "s")
        for form in ("local", "s3"):
            slower = 100 * (seconds_of[form] / seconds_of["off"] - 1)
            results.add(f"lake.cost.{form}", f"{label}: tables {form} against none", slower, "% slower")
        # Latency: without the tables here, with them in `sustained` (the latency section runs
        # with the tests' default, without them).
        off = repeat(runs, lambda run: latency(broker, rate, seconds, 10 + run, {"LAKE_URI": "off"}))
        for name, index in (("p50", 0), ("p99", 1)):
            results.add(
                f"lake.latency_off.{name}",
                f"latency {name} at {rate} tickets/s, steady, tables off",
                [run.steady[index] for run in off],
                "s",
            )
    finally:
        server.stop()


def sustained(results: Results, broker: Broker, rate: int, seconds: int) -> None:
    """The tables after `seconds` at `rate` tickets/s (10 minutes at 1,000 in the full run): their
    files, and `make query`'s time."""
    lake = str(WORK / "latency-99" / "lake")
    run = latency(broker, rate, seconds, 99, {"LAKE_URI": lake})
    results.add(
        "lake.latency_sustained.p50",
        f"latency p50 over {seconds} s at {rate}/s, tables on",
        run.steady[0],
        "s",
    )
    results.add(
        "lake.latency_sustained.p99",
        f"latency p99 over {seconds} s at {rate}/s, tables on",
        run.steady[1],
        "s",
    )
    results.add(
        "lake.files.sustained",
        f"tickets table's live files after {seconds} s at {rate}/s",
        live_files(lake),
        "files",
    )
    results.add(
        "lake.files_on_disk.sustained",
        f"tickets table's files on disk after {seconds} s",
        files_of(Path(lake)),
        "files",
    )
    results.add("lake.query.sustained", f"make query after {seconds} s at {rate}/s", query_seconds(lake), "s")


def main() -> int:
    parser = argparse.ArgumentParser(description="What the lake costs.")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("kafka", "py4j"):
        logging.getLogger(name).setLevel(logging.WARNING)
    WORK.mkdir(parents=True, exist_ok=True)
    broker = Broker(port=19592, state_dir=WORK / "kafka")
    broker.up()
    results = Results()
    try:
        if args.quick:
            bench_lake(results, broker, 10_000, 1, 200, 10)
            sustained(results, broker, 200, 20)
        else:
            bench_lake(results, broker, 1_000_000, 3, 1000, 40)
            sustained(results, broker, 1000, 600)
    finally:
        broker.kafka_sh("down")
    (WORK / "lake.json").write_text(json.dumps(results.figures, indent=2) + "\n")
    log.info("wrote %s", WORK / "lake.json")
    report = (WORK if args.quick else ROOT / "docs" / "reports") / "LAKE-FIGURES.md"
    report.write_text(lake_report(results.figures, about(args.quick)))
    log.info("wrote %s", report)
    return 0


def about(quick: bool) -> str:
    sizes = "a 10,000 backlog, 200 tickets/s for 20 s" if quick else "a 1,000,000 backlog, 1,000 tickets/s"
    runs = "one run" if quick else "three runs of each backlog and latency figure, one of 10 minutes"
    return (
        f"Written by `python -m tickets_bench.lake{' --quick' if quick else ''}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} cores, the local Kafka "
        f"broker and S3Proxy on the same machine: {sizes}; {runs}."
    )


if __name__ == "__main__":
    sys.exit(main())
