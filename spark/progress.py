"""One readable log line per micro-batch, from Spark's own query progress events.

batch 3: 50 rows in (2 rejected), 212.4 rows/s, 150 tickets counted
200/200 tickets counted

With EXPECTED_TICKETS=200, "N/N tickets counted" is logged each time the count reaches a further
multiple of 200: 200/200 after the first producer run, 400/400 after a second run with new ids,
once per job process (a restart that finds 400 counted says 400/400 again, never 400/200).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from pyspark.sql.streaming import StreamingQueryListener
from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
)

log = logging.getLogger("progress")

# The two lines as their readers (tests, benchmarks) parse them: import these, never retype them.
BATCH_LINE = re.compile(
    r"batch (?P<batch>\d+): (?P<rows>\d+) rows in(?: \((?P<rejected>\d+) rejected\))?, "
    r"(?P<rate>[\d.]+) rows/s, (?:(?P<total>\d+) tickets counted|no tickets counted yet)"
)
COUNTED_LINE = re.compile(r"(?P<total>\d+)/(?P<expected>\d+) tickets counted")


def progress_line(batch_id: int, rows: int, rejected: int, rows_per_second: float, total: int | None) -> str:
    counted = "no tickets counted yet" if total is None else f"{total} tickets counted"
    rejects = f" ({rejected} rejected)" if rejected else ""
    return f"batch {batch_id}: {rows} rows in{rejects}, {rows_per_second:.1f} rows/s, {counted}"


class ProgressLog(StreamingQueryListener):
    """Logs each batch's progress from the counters the sinks fill (batch id -> tickets counted,
    batch id -> messages quarantined); `counts_query` names the query that counts."""

    def __init__(
        self,
        counts_query: str,
        totals: Mapping[int, int],
        rejected: Mapping[int, int],
        expected: int | None = None,
    ) -> None:
        self.counts_query = counts_query
        self.totals = totals
        self.rejected = rejected
        self.expected = expected
        self.announced = 0  # the multiple of `expected` last announced

    def onQueryStarted(self, event: QueryStartedEvent) -> None:  # noqa: N802 (Spark's name)
        log.info("query %s started (run %s)", event.name, event.runId)

    def onQueryProgress(self, event: QueryProgressEvent) -> None:  # noqa: N802
        progress = event.progress
        if progress.name != self.counts_query:
            quarantined = self.rejected.get(progress.batchId, 0)
            if quarantined:
                so_far = sum(self.rejected.values())
                log.info(
                    "quarantine batch %d: %d messages quarantined, %d so far",
                    progress.batchId,
                    quarantined,
                    so_far,
                )
            return
        metrics = progress.observedMetrics.get("input")
        rejected = metrics["rejected"] if metrics is not None else 0
        total = self.totals.get(progress.batchId)
        log.info(
            "%s",
            progress_line(
                progress.batchId,
                progress.numInputRows,
                rejected,
                progress.processedRowsPerSecond,
                total,
            ),
        )
        if self.expected and total is not None and total // self.expected > self.announced:
            self.announced = total // self.expected
            log.info("%d/%d tickets counted", total, self.announced * self.expected)

    def onQueryIdle(self, event: QueryIdleEvent) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:  # noqa: N802
        if event.exception:
            log.error("query failed: %s", event.exception)
        else:
            log.info("query stopped")
