"""The foreachBatch sink (tickets_job.sink), called as Spark calls it: a batch DataFrame and its id."""

from __future__ import annotations

import os
import time

import pytest
from pyspark.sql import DataFrame, SparkSession

from tickets_job.export import PART_GLOB
from tickets_job.sink import MissingCountsError, RunningCounts, VerdictSink
from tickets_job.storage import LocalFolder

COLUMNS = (
    "ticket_id string, type string, created_at timestamp, reject_reason string, topic string, "
    "partition int, offset long, value_bytes int, raw string"
)


def judged(spark: SparkSession, first_offset: int, types: list[str], rejects: int = 0) -> DataFrame:
    """A batch as first_copies hands it over: new tickets of `types`, then `rejects` bad messages."""
    rows = [
        (f"t-{first_offset + i}", t, None, None, "topic", 0, first_offset + i, 40, None)
        for i, t in enumerate(types)
    ]
    start = first_offset + len(types)
    rows += [(None, None, None, "empty value", "topic", 1, start + i, 0, "") for i in range(rejects)]
    return spark.createDataFrame(rows, COLUMNS)


def outputs(tmp_path) -> dict[str, str]:
    return {
        str(path.relative_to(tmp_path)): path.read_text()
        for path in sorted(tmp_path.rglob("*"))
        if path.is_file() and "counts" not in path.parts
    }


def test_each_batch_adds_to_the_counts_of_the_one_before(spark, tmp_path):
    sink = VerdictSink(tmp_path / "out", tmp_path / "quarantine", LocalFolder(tmp_path / "counts"))
    sink(judged(spark, 0, ["BILLING", "BILLING", "GENERAL"], rejects=2), 0)
    sink(judged(spark, 10, ["BILLING", "ACCOUNT"]), 1)
    part = next((tmp_path / "out").glob(PART_GLOB))
    assert part.read_text() == (
        '{"type":"ACCOUNT","ticket_count":1}\n{"type":"BILLING","ticket_count":3}\n{"type":"GENERAL","ticket_count":1}\n'
    )
    assert [path.name for path in (tmp_path / "quarantine").iterdir()] == ["batch-000000.jsonl"]
    assert (sink.verdicts[0].counted, sink.verdicts[0].quarantined, sink.verdicts[0].total) == (3, 2, 3)
    assert (sink.verdicts[1].counted, sink.verdicts[1].quarantined, sink.verdicts[1].total) == (2, 0, 5)
    # Each step of the sink is timed, the Spark job first (no dead-letter topic here).
    assert list(sink.verdicts[0].steps_ms) == ["collect", "quarantine", "counts", "part"]
    assert all(millis >= 0 for millis in sink.verdicts[0].steps_ms.values())


def test_a_batch_run_again_after_a_crash_leaves_the_same_bytes(spark, tmp_path):
    sink = VerdictSink(tmp_path / "out", tmp_path / "quarantine", LocalFolder(tmp_path / "counts"))
    sink(judged(spark, 0, ["BILLING"]), 0)
    sink(judged(spark, 10, ["TECHNICAL", "BILLING"], rejects=1), 1)
    before = outputs(tmp_path)
    # A new process (the old one was killed after the sink wrote batch 1, before Spark committed it).
    VerdictSink(tmp_path / "out", tmp_path / "quarantine", LocalFolder(tmp_path / "counts"))(
        judged(spark, 10, ["TECHNICAL", "BILLING"], rejects=1), 1
    )
    assert outputs(tmp_path) == before


def test_missing_counts_of_the_previous_batch_stop_the_job(tmp_path):
    counts = RunningCounts(LocalFolder(tmp_path / "counts"))
    assert counts.before(0) == {}
    counts.save(0, {"BILLING": 2})
    assert counts.before(1) == {"BILLING": 2}
    with pytest.raises(MissingCountsError, match=r"1\.json is missing"):
        counts.before(2)


def test_only_the_last_batches_are_kept(tmp_path):
    counts = RunningCounts(LocalFolder(tmp_path / "counts"))
    for batch_id in range(25):
        counts.save(batch_id, {"BILLING": batch_id})
    assert sorted(int(path.stem) for path in (tmp_path / "counts").iterdir()) == list(range(15, 25))


def test_quarantine_files_older_than_the_retention_are_deleted(spark, tmp_path):
    quarantine = tmp_path / "quarantine"
    quarantine.mkdir()
    old, recent = quarantine / "batch-000004.jsonl", quarantine / "batch-000005.jsonl"
    for path, days in ((old, 31), (recent, 29)):
        path.write_text('{"reason": "empty value"}\n')
        stamp = time.time() - days * 86400
        os.utime(path, (stamp, stamp))
    sink = VerdictSink(tmp_path / "out", quarantine, LocalFolder(tmp_path / "counts"), quarantine_days=30)
    sink(judged(spark, 0, ["BILLING"]), 0)  # the first batch prunes, rejects or not
    assert sorted(path.name for path in quarantine.iterdir()) == [recent.name]
    stamp = time.time() - 31 * 86400
    os.utime(recent, (stamp, stamp))
    sink(judged(spark, 10, ["BILLING"]), 1)  # nothing written: nothing pruned
    assert recent.exists()
    sink(judged(spark, 20, [], rejects=1), 2)
    assert sorted(path.name for path in quarantine.iterdir()) == ["batch-000002.jsonl"]
