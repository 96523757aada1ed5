"""One readable log line per micro-batch, from Spark's own query progress events.

batch 3: 50 rows in = 45 counted + 3 duplicates + 2 quarantined, 212.4 rows/s, 150 tickets counted
200/200 tickets counted

Every message read gets one verdict (counted, a duplicate of a counted ticket, or quarantined), and
the batch line shows that the three add up to the rows Spark read. The figures come from three
independent places: rows in from Spark's Kafka source, duplicates from Spark's deduplication
operator (numDroppedDuplicateRows), counted and quarantined from the sink. When they do not add up
(a row older than the watermark, which the job's time checks exclude), an ERROR line says how many
rows have no verdict.

With PROGRESS_FILE set, Spark's own progress of each batch (durations by phase, state store
memory, Kafka offsets) is appended to that file as one JSON line, for profiling.

With EXPECTED_TICKETS=200, "N/N tickets counted" is logged each time the count reaches a further
multiple of 200: 200/200 after the first producer run, 400/400 after a second run with new ids,
once per job process (a restart that finds 400 counted says 400/400 again, never 400/200).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql.streaming import StreamingQueryListener
from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
    StreamingQueryProgress,
)
from sink import BatchVerdicts

log = logging.getLogger("progress")

# The two lines as their readers (tests, benchmarks) parse them: import these, never retype them.
BATCH_LINE = re.compile(
    r"batch (?P<batch>\d+): (?P<rows>\d+) rows in = (?P<counted>\d+) counted \+ "
    r"(?P<duplicates>\d+) duplicates \+ (?P<quarantined>\d+) quarantined, "
    r"(?P<rate>[\d.]+) rows/s, (?P<total>\d+) tickets counted"
)
COUNTED_LINE = re.compile(r"(?P<total>\d+)/(?P<expected>\d+) tickets counted")


def progress_line(
    batch_id: int, rows: int, verdicts: BatchVerdicts, duplicates: int, rows_per_second: float
) -> str:
    return (
        f"batch {batch_id}: {rows} rows in = {verdicts.counted} counted + {duplicates} duplicates + "
        f"{verdicts.quarantined} quarantined, {rows_per_second:.1f} rows/s, {verdicts.total} tickets counted"
    )


def duplicates_dropped(progress: StreamingQueryProgress) -> int:
    """Rows the deduplication dropped as later copies of a ticket id, in this batch."""
    return sum(op.customMetrics.get("numDroppedDuplicateRows", 0) for op in progress.stateOperators)


def dropped_as_late(progress: StreamingQueryProgress) -> int:
    """Rows dropped as older than the watermark, in this batch (the time checks keep it 0)."""
    return sum(op.numRowsDroppedByWatermark for op in progress.stateOperators)


class ProgressLog(StreamingQueryListener):
    """Logs each batch's progress from Spark's figures and the sink's verdicts (batch id ->
    BatchVerdicts); `query` names the job's query."""

    def __init__(
        self,
        query: str,
        verdicts: Mapping[int, BatchVerdicts],
        expected: int | None = None,
        progress_file: Path | None = None,
    ) -> None:
        self.query = query
        self.verdicts = verdicts
        self.expected = expected
        self.progress_file = progress_file  # Spark's own progress of each batch, as JSON lines
        self.announced = 0  # the multiple of `expected` last announced

    def onQueryStarted(self, event: QueryStartedEvent) -> None:  # noqa: N802 (Spark's name)
        log.info("query %s started (run %s)", event.name, event.runId)

    def onQueryProgress(self, event: QueryProgressEvent) -> None:  # noqa: N802
        progress = event.progress
        verdicts = self.verdicts.get(progress.batchId)
        if progress.name != self.query or verdicts is None:
            return
        if self.progress_file is not None:
            with self.progress_file.open("a", encoding="utf-8") as out:
                out.write(json.dumps(json.loads(progress.json)) + "\n")
        rows = progress.numInputRows
        duplicates = duplicates_dropped(progress)
        log.info(
            "%s", progress_line(progress.batchId, rows, verdicts, duplicates, progress.processedRowsPerSecond)
        )
        judged = verdicts.counted + duplicates + verdicts.quarantined
        if judged != rows:
            log.error(
                "batch %d: %d of %d rows read have no verdict (%d were older than the watermark)",
                progress.batchId,
                rows - judged,
                rows,
                dropped_as_late(progress),
            )
        total = verdicts.total
        if self.expected and total // self.expected > self.announced:
            self.announced = total // self.expected
            log.info("%d/%d tickets counted", total, self.announced * self.expected)

    def onQueryIdle(self, event: QueryIdleEvent) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:  # noqa: N802
        if event.exception:
            log.error("query failed: %s", event.exception)
        else:
            log.info("query stopped")
