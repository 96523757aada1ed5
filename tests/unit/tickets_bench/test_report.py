"""The benchmark's bookkeeping: medians of runs with their spread, targets judged on the medians,
and a batch's profile joined from the job's events and Spark's event log (tickets_bench)."""

from __future__ import annotations

import json

from tickets_bench.profile import breakdown
from tickets_bench.report import TARGETS, lake_report, tables
from tickets_bench.results import Results, median_by, repeat


def test_a_figure_is_the_median_of_its_runs_with_every_run_kept():
    results = Results()
    assert results.add("latency.p50.steady", "p50", [1.4, 0.8, 0.9], "s") == 0.9
    assert results.figures["latency.p50.steady"]["samples"] == [1.4, 0.8, 0.9]
    assert results.add("demo.final_json", "final", 12.5, "s") == 12.5
    assert repeat(3, lambda run: run * 10) == [0, 10, 20]


def test_the_run_that_stands_for_the_runs_is_the_median_one():
    runs = [{"p50": 1.4, "name": "slow"}, {"p50": 0.8, "name": "fast"}, {"p50": 0.9, "name": "middle"}]
    assert median_by(runs, key=lambda run: run["p50"])["name"] == "middle"
    assert median_by(runs[:1], key=lambda run: run["p50"])["name"] == "slow"


def test_targets_are_judged_on_the_median_and_the_table_shows_the_spread():
    results = Results()
    results.add("latency.p50.steady", "latency p50", [0.7, 1.6, 0.9], "s")
    [target] = [t for t in TARGETS if t.marks == "latency.p50.steady"]
    assert target.check(results.figures) == (0.9, True)
    assert "| latency p50 | 0.90 | 0.70 to 1.60 | - | s |" in tables(results.figures, {})


def test_the_lake_report_shows_only_the_lakes_figures_and_judges_its_targets():
    results = Results()
    results.add("lake.cost.local", "tables local against none", [30.0, 20.0, 24.0], "% slower")
    results.add("lake.latency_sustained.p50", "p50, tables on", 1.6, "s")
    results.add("latency.p50.steady", "latency p50", 0.9, "s")
    report = lake_report(results.figures, "Written by a test.")
    assert "| tables local against none | 24.00 | 20.00 to 30.00 | % slower |" in report
    assert "latency p50 |" not in report
    assert (
        "| the Delta tables on local disk: the job slower by, %, largest backlog | <= 25 | 24.00 | yes |"
        in report
    )
    assert "tables on, s | <= 1.5 | 1.60 | **no** |" in report
    assert (
        "on the S3 server: the job slower by, %, largest backlog | <= 25 | - | - |" in report
    )  # not measured
    assert "| lake" not in tables(results.figures, {}) and "tables local against none" in tables(
        results.figures, {}
    )


def batch_event(batch: int, add: int, collect: float) -> dict:
    return {
        "event": "batch",
        "batch": batch,
        "rows": 600,
        "durations_ms": {"triggerExecution": add + 100, "addBatch": add},
        "sink_ms": {"collect": collect, "part": 1.0},
        "spark": {
            "stateOperators": [{"commitTimeMs": 120, "customMetrics": {"rocksdbCommitFileSyncLatencyMs": 90}}]
        },
    }


def spark_job(batch: int, stage: int, wall: int, run_ms: int, cpu_ms: int) -> list[dict]:
    return [
        {
            "Event": "SparkListenerJobStart",
            "Stage IDs": [stage],
            "Properties": {"streaming.sql.batchId": str(batch)},
        },
        {
            "Event": "SparkListenerTaskEnd",
            "Stage ID": stage,
            "Task Metrics": {"Executor Run Time": run_ms, "Executor CPU Time": cpu_ms * 1_000_000},
        },
        {
            "Event": "SparkListenerStageCompleted",
            "Stage Info": {"Stage ID": stage, "Submission Time": 1000, "Completion Time": 1000 + wall},
        },
    ]


def test_a_batch_profile_joins_the_events_and_the_event_log(tmp_path):
    events = tmp_path / "job.events.jsonl"
    batches = [batch_event(0, 4000, 3000.0), batch_event(1, 500, 400.0), batch_event(2, 700, 600.0)]
    events.write_text("".join(json.dumps(b) + "\n" for b in batches))
    log_dir = tmp_path / "event-log" / "eventlog_v2_local-1"
    log_dir.mkdir(parents=True)
    lines = [
        *spark_job(0, 0, 2000, 2500, 400),
        *spark_job(1, 1, 150, 200, 50),
        *spark_job(2, 2, 250, 300, 70),
    ]
    (log_dir / "events_1_local-1").write_text("".join(json.dumps(line) + "\n" for line in lines))

    profile = breakdown(events, tmp_path / "event-log", skip=1)  # the first batch warms up
    assert profile["phase.addBatch"] == 600
    assert profile["sink.collect"] == 500
    assert profile["stage.1.wall"] == 200
    assert profile["stage.1.tasks"] == 250
    assert profile["stage.1.cpu"] == 60
    assert profile["state.commitTimeMs"] == 120
    assert profile["state.rocksdbCommitFileSyncLatencyMs"] == 90
    assert profile["rows"] == 600
