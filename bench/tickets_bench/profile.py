"""Where a micro-batch's milliseconds go: the job's batch events (PROGRESS_FILE: Spark's phases and
the sink's own steps) joined with Spark's event log (SPARK_EVENT_LOG_DIR: each Spark job, stage and
task of the batch with its timings), as medians over a run's batches.

    python -m tickets_bench.profile EVENTS_FILE EVENT_LOG_DIR [--skip N]

prints the breakdown as JSON, keyed as the benchmark report shows it:
  phase.<name>        Spark's durationMs of the batch (triggerExecution = the whole batch; within
                      it latestOffset, queryPlanning, walCommit, addBatch, commitOffsets)
  sink.<step>         the sink's steps within addBatch (collect = the Spark job of the batch)
  stage.<n>.wall      the n-th stage of the batch's Spark job, submission to completion
  stage.<n>.tasks     its tasks' summed run time, and .cpu their CPU time: wall time far above CPU
                      time is waiting (for Kafka, for a core, for a file)
  state.<metric>      the deduplication state store's commit (commitTimeMs, RocksDB's own timers)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from statistics import median

from tickets_job.progress import read_events

STATE_METRICS = (
    "rocksdbCommitFlushLatency",
    "rocksdbCommitCompactLatency",
    "rocksdbCommitCheckpointLatency",
    "rocksdbCommitFileSyncLatencyMs",
    "rocksdbChangeLogWriterCommitLatencyMs",
)


def spark_events(event_log_dir: Path) -> Iterator[dict]:
    """Every event of every application in `event_log_dir` (plain JSON lines; rolled files in order)."""
    for path in sorted(event_log_dir.rglob("events_*"), key=lambda p: int(p.name.split("_")[1])):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)


def stages_by_batch(event_log_dir: Path) -> dict[int, list[dict[str, float]]]:
    """batch id -> its Spark job's stages in order: wall, and the tasks' summed run and CPU time, ms."""
    batch_of_stage: dict[int, int] = {}
    stages: dict[int, dict[str, float]] = {}
    for event in spark_events(event_log_dir):
        kind = event["Event"]
        if kind == "SparkListenerJobStart":
            batch = event.get("Properties", {}).get("streaming.sql.batchId")
            for stage in event["Stage IDs"]:
                if batch is not None:
                    batch_of_stage[stage] = int(batch)
        elif kind == "SparkListenerTaskEnd" and event.get("Task Metrics"):
            metrics = event["Task Metrics"]
            stage = stages.setdefault(event["Stage ID"], {"wall": 0.0, "tasks": 0.0, "cpu": 0.0})
            stage["tasks"] += metrics["Executor Run Time"]
            stage["cpu"] += metrics["Executor CPU Time"] / 1e6
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            if "Submission Time" in info:
                stage = stages.setdefault(info["Stage ID"], {"wall": 0.0, "tasks": 0.0, "cpu": 0.0})
                stage["wall"] = info["Completion Time"] - info["Submission Time"]
    by_batch: dict[int, list[dict[str, float]]] = defaultdict(list)
    for stage_id in sorted(stages):
        if stage_id in batch_of_stage and stages[stage_id]["wall"]:
            by_batch[batch_of_stage[stage_id]].append(stages[stage_id])
    return by_batch


def breakdown(events_file: Path, event_log_dir: Path | None, skip: int = 0) -> dict[str, float]:
    """Medians, in ms, of each part of the batches after the first `skip` (see the module doc)."""
    batches = [event for event in read_events(events_file) if event["event"] == "batch"][skip:]
    stages = stages_by_batch(event_log_dir) if event_log_dir is not None else {}
    samples: dict[str, list[float]] = defaultdict(list)
    for batch in batches:
        for phase, millis in batch["durations_ms"].items():
            samples[f"phase.{phase}"].append(millis)
        for step, millis in batch.get("sink_ms", {}).items():
            samples[f"sink.{step}"].append(millis)
        for number, stage in enumerate(stages.get(batch["batch"], []), start=1):
            for what, millis in stage.items():
                samples[f"stage.{number}.{what}"].append(millis)
        for operator in batch["spark"].get("stateOperators", []):
            samples["state.commitTimeMs"].append(operator.get("commitTimeMs", 0))
            for metric in STATE_METRICS:
                if metric in operator.get("customMetrics", {}):
                    samples[f"state.{metric}"].append(operator["customMetrics"][metric])
        samples["rows"].append(batch["rows"])
    return {key: float(median(values)) for key, values in samples.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("events_file", type=Path)
    parser.add_argument("event_log_dir", type=Path, nargs="?")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N batches (warm-up)")
    args = parser.parse_args(argv)
    figures = breakdown(args.events_file, args.event_log_dir, args.skip)
    sys.stdout.write(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
