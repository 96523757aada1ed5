"""The progress lines as `docker logs -f spark` shows them, driven by stand-in progress events."""

from __future__ import annotations

import json
import logging
import threading
import time
from types import SimpleNamespace

import pytest
from prometheus_client import generate_latest

from tickets_job.metrics import JobMetrics
from tickets_job.progress import (
    BATCH_LINE,
    COUNTED_LINE,
    ProgressLog,
    progress_line,
    read_events,
    state_bytes,
)
from tickets_job.sink import BatchVerdicts, VerdictsHandover

QUERY = "client_tickets"


def event(batch_id: int, rows: int, duplicates: int = 0, late: int = 0, behind: int = 0) -> SimpleNamespace:
    """A query progress event as Spark sends it, with the deduplication operator's figures and the
    Kafka source's offsets (two partitions; `behind` records left beyond the batch in the second)."""
    operator = SimpleNamespace(
        customMetrics={"numDroppedDuplicateRows": duplicates, "rocksdbSstFileSize": 4096 * batch_id},
        numRowsDroppedByWatermark=late,
        memoryUsedBytes=1000 + batch_id,
    )
    progress = SimpleNamespace(
        name=QUERY,
        batchId=batch_id,
        numInputRows=rows,
        processedRowsPerSecond=10.0,
        stateOperators=[operator],
        sources=[
            SimpleNamespace(
                endOffset=json.dumps({"t": {"0": 10 * batch_id, "1": rows}}),
                latestOffset=json.dumps({"t": {"0": 10 * batch_id, "1": rows + behind}}),
            )
        ],
        durationMs={"addBatch": 300, "triggerExecution": 400},
        json=f'{{"batchId": {batch_id}, "numInputRows": {rows}}}',
    )
    return SimpleNamespace(progress=progress)


def replay(caplog: pytest.LogCaptureFixture, totals: list[int], expected: int | None = 200) -> list[str]:
    """Feed one progress event per total (batch 0, 1, ...) to a fresh ProgressLog, as a job
    process that starts and sees those totals would; returns the N/M lines it logged."""
    verdicts = VerdictsHandover(
        {batch_id: BatchVerdicts(50, 0, total) for batch_id, total in enumerate(totals)}
    )
    listener = ProgressLog(QUERY, verdicts, expected)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tickets_job.progress"):
        for batch_id in range(len(totals)):
            listener.onQueryProgress(event(batch_id, rows=50))
    return [r.getMessage() for r in caplog.records if COUNTED_LINE.fullmatch(r.getMessage())]


def test_the_first_run_is_announced_once(caplog):
    assert replay(caplog, [49, 98, 147, 196, 200, 200]) == ["200/200 tickets counted"]


def test_a_second_producer_run_with_new_ids_reads_400_of_400(caplog):
    assert replay(caplog, [100, 200, 300, 400]) == ["200/200 tickets counted", "400/400 tickets counted"]


def test_a_restarted_job_that_finds_400_counted_never_says_400_of_200(caplog):
    assert replay(caplog, [400, 400]) == ["400/400 tickets counted"]


def test_a_rerun_with_the_same_seed_adds_nothing_and_announces_nothing_new(caplog):
    assert replay(caplog, [200, 200, 200]) == ["200/200 tickets counted"]


def test_without_expected_tickets_nothing_is_announced(caplog):
    assert replay(caplog, [200, 400], expected=None) == []


def test_the_batch_line_reads_back_with_its_exported_pattern():
    line = progress_line(7, 50, BatchVerdicts(counted=45, quarantined=2, total=150), 3, 212.44, 1234)
    assert line == (
        "batch 7: 50 rows in = 45 counted + 3 duplicates + 2 quarantined, 212.4 rows/s, "
        "150 tickets counted, 1,234 behind"
    )
    match = BATCH_LINE.fullmatch(line)
    assert match is not None, line
    names = ("batch", "rows", "counted", "duplicates", "quarantined", "total")
    assert [int(match[name]) for name in names] == [7, 50, 45, 3, 2, 150]
    assert match["behind"] == "1,234"


def test_verdicts_that_do_not_add_up_to_the_rows_read_are_an_error(caplog):
    listener = ProgressLog(
        QUERY, VerdictsHandover({0: BatchVerdicts(40, 2, 40), 1: BatchVerdicts(10, 0, 50)})
    )
    with caplog.at_level(logging.INFO, logger="tickets_job.progress"):
        listener.onQueryProgress(event(0, rows=45, duplicates=3))
        listener.onQueryProgress(event(1, rows=12, duplicates=0, late=2))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["batch 1: 2 of 12 rows read have no verdict (2 were older than the watermark)"]


def test_each_batch_is_an_event_in_the_progress_file(tmp_path):
    steps = {"collect": 250.5, "quarantine": 0.0, "counts": 1.2, "part": 0.9}
    verdicts = VerdictsHandover({0: BatchVerdicts(5, 0, 5, steps_ms=steps), 1: BatchVerdicts(6, 1, 11)})
    listener = ProgressLog(QUERY, verdicts, progress_file=tmp_path / "progress.jsonl")
    listener.onQueryProgress(event(0, rows=5, behind=1234))
    listener.onQueryProgress(event(1, rows=9, duplicates=2))
    events = list(read_events(tmp_path / "progress.jsonl"))
    assert [{k: v for k, v in e.items() if k != "time"} for e in events] == [
        {
            "event": "batch",
            "batch": 0,
            "rows": 5,
            "counted": 5,
            "duplicates": 0,
            "quarantined": 0,
            "total": 5,
            "behind": 1234,
            "rows_per_second": 10.0,
            "durations_ms": {"addBatch": 300, "triggerExecution": 400},
            "sink_ms": steps,
            "spark": {"batchId": 0, "numInputRows": 5},
        },
        {
            "event": "batch",
            "batch": 1,
            "rows": 9,
            "counted": 6,
            "duplicates": 2,
            "quarantined": 1,
            "total": 11,
            "behind": 0,
            "rows_per_second": 10.0,
            "durations_ms": {"addBatch": 300, "triggerExecution": 400},
            "sink_ms": {},
            "spark": {"batchId": 1, "numInputRows": 9},
        },
    ]
    assert all(e["time"].endswith("Z") for e in events)


def test_the_verdicts_of_reported_batches_are_not_kept():
    verdicts = VerdictsHandover({batch: BatchVerdicts(1, 0, batch + 1) for batch in range(3)})
    listener = ProgressLog(QUERY, verdicts)
    listener.onQueryProgress(event(2, rows=1))  # batches 0 and 1 ran again and were never reported
    assert len(verdicts) == 0


def test_the_sink_and_the_listener_hand_batches_over_on_two_threads_at_once():
    """The sink puts each batch's verdicts on Spark's foreachBatch thread while the listener takes
    them on its own, up to 50 batches behind (a plain dict failed here: "dictionary changed size
    during iteration")."""
    handover = VerdictsHandover()
    batches = 100_000
    taken: list[int] = []
    failures: list[BaseException] = []

    def listen() -> None:
        try:
            while len(taken) < batches:
                if handover.take(len(taken)) is not None:
                    taken.append(len(taken))
        except BaseException as err:
            failures.append(err)

    listener = threading.Thread(target=listen)
    listener.start()
    for batch in range(batches):
        while len(handover) > 50 and listener.is_alive():
            time.sleep(0)
        handover.put(batch, BatchVerdicts(1, 0, batch + 1))
    listener.join(timeout=120)
    assert failures == [] and taken == list(range(batches))


def test_the_state_size_goes_to_the_metrics_by_where_it_is_kept():
    metrics = JobMetrics()
    listener = ProgressLog(QUERY, VerdictsHandover({3: BatchVerdicts(1, 0, 1)}), metrics=metrics)
    listener.onQueryProgress(event(3, rows=1))
    assert state_bytes(event(3, rows=1).progress) == {"disk": 12288, "memory": 1003}
    text = generate_latest(metrics.registry).decode()
    assert 'tickets_state_bytes{where="disk"} 12288.0' in text
    assert 'tickets_state_bytes{where="memory"} 1003.0' in text
