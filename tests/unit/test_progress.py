"""The progress lines as `docker logs -f spark` shows them, driven by stand-in progress events."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from progress import BATCH_LINE, COUNTED_LINE, ProgressLog, progress_line

COUNTS = "client_ticket_counts"


def replay(caplog: pytest.LogCaptureFixture, totals: list[int], expected: int | None = 200) -> list[str]:
    """Feed one counts-query progress event per total (batch 0, 1, ...) to a fresh ProgressLog,
    as a job process that starts and sees those totals would; returns the N/M lines it logged."""
    sink_totals = dict(enumerate(totals))
    listener = ProgressLog(COUNTS, sink_totals, {}, expected)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="progress"):
        for batch_id in sink_totals:
            progress = SimpleNamespace(
                name=COUNTS,
                batchId=batch_id,
                numInputRows=50,
                processedRowsPerSecond=10.0,
                observedMetrics={"input": {"rejected": 0}},
            )
            listener.onQueryProgress(SimpleNamespace(progress=progress))
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


@pytest.mark.parametrize(
    ("rows", "rejected", "total"),
    [(50, 0, 150), (50, 2, 148), (3, 3, None)],
    ids=["plain", "rejects", "none-yet"],
)
def test_the_batch_line_reads_back_with_its_exported_pattern(rows, rejected, total):
    line = progress_line(7, rows, rejected, 212.44, total)
    match = BATCH_LINE.fullmatch(line)
    assert match is not None, line
    assert int(match["batch"]) == 7 and int(match["rows"]) == rows
    assert int(match["rejected"] or 0) == rejected
    assert match["total"] == (None if total is None else str(total))
