"""The job's progress: one readable log line per micro-batch for people, and the same facts as
JSON events for programs (make run, the benchmarks, the tests), from Spark's own progress events.

    batch 3: 50 rows in = 45 counted + 3 duplicates + 2 quarantined, 212.4 rows/s, 150 tickets counted,
      1,234 behind   (on one line)
    200/200 tickets counted

Every message read gets one verdict (counted, a duplicate of a counted ticket, or quarantined), and
the batch line shows that the three add up to the rows Spark read. The figures come from three
independent places: rows in from Spark's Kafka source, duplicates from Spark's deduplication
operator (numDroppedDuplicateRows), counted and quarantined from the sink. When they do not add up
(a row older than the watermark, which the job's time checks exclude), an ERROR line says how many
rows have no verdict. "behind" is how many records the topic held beyond the batch's end offsets,
from the Kafka source's own progress.

After each reported batch (its outputs are durable by then), its end offsets go to the job's
consumer group (tickets_job.group) and its figures to the job's metrics (tickets_job.metrics).

With EXPECTED_TICKETS=200, "N/N tickets counted" is logged each time the count reaches a further
multiple of 200: 200/200 after the first producer run, 400/400 after a second run with new ids,
once per job process (a restart that finds 400 counted says 400/400 again, never 400/200).

With PROGRESS_FILE set, each event is appended to that file as one JSON line (read them with
`read_events`; the log lines may change, these fields do not):

    {"event": "started", "time": "2026-12-01T16:02:03.456Z", "query": "client_tickets", "run_id": "..."}
    {"event": "batch", "time": ..., "batch": 3, "rows": 50, "counted": 45, "duplicates": 3,
     "quarantined": 2, "total": 150, "behind": 0, "rows_per_second": 212.4,
     "durations_ms": {"addBatch": 310, "triggerExecution": 402, ...},
     "sink_ms": {"collect": 280.5, "quarantine": 1.2, "counts": 0.6, "part": 0.7}, "spark": {...}}
    {"event": "stopped", "time": ..., "query": "client_tickets", "error": null}

`rows` = `counted` + `duplicates` + `quarantined`; `total` is the tickets counted since the
checkpoint began; `behind` the records the topic held beyond this batch (latest offsets minus the
batch's end offsets, over all partitions), from the Kafka source's own progress; `durations_ms`
Spark's time per phase of the batch; `sink_ms` the sink's own time by step, within `addBatch`
(`collect` is the Spark job that reads, parses, deduplicates and counts the batch); `spark`
Spark's whole progress of the batch, for profiling (tickets_bench.profile).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kafka import TopicPartition
from pyspark.sql.streaming import StreamingQueryListener
from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
    StreamingQueryProgress,
)

from tickets_job.group import GroupCommitter, Offsets
from tickets_job.metrics import JobMetrics
from tickets_job.sink import BatchVerdicts, VerdictsHandover

log = logging.getLogger(__name__)

# The lines as people read them (the unit tests check their shape; programs read the events).
BATCH_LINE = re.compile(
    r"batch (?P<batch>\d+): (?P<rows>\d+) rows in = (?P<counted>\d+) counted \+ "
    r"(?P<duplicates>\d+) duplicates \+ (?P<quarantined>\d+) quarantined, "
    r"(?P<rate>[\d.]+) rows/s, (?P<total>\d+) tickets counted, (?P<behind>[\d,]+) behind"
)
COUNTED_LINE = re.compile(r"(?P<total>\d+)/(?P<expected>\d+) tickets counted")


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events in a PROGRESS_FILE, oldest first (none when there is no file yet); a last line
    still being written is left out."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.endswith("\n"):
            yield json.loads(line)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def source_offsets(text: str | None) -> dict[str, dict[str, int]]:
    """A Kafka source's offsets in its progress ({"topic": {"0": 42}}); {} when it gives none (the
    first batch after a restart in the middle of one reports no latest offsets)."""
    try:
        offsets = json.loads(text) if text else {}
    except ValueError:
        return {}
    return offsets if isinstance(offsets, dict) else {}


def end_offsets(progress: StreamingQueryProgress) -> Offsets:
    """The offsets after a micro-batch, per topic partition, from the Kafka source's progress."""
    ends: Offsets = {}
    for source in progress.sources:
        for topic, partitions in source_offsets(source.endOffset).items():
            for partition, offset in partitions.items():
                ends[TopicPartition(topic, int(partition))] = int(offset)
    return ends


def behind_by_partition(progress: StreamingQueryProgress) -> dict[tuple[str, int], int]:
    """Records each partition held beyond this batch's end: its latest minus its end offset."""
    behind = {}
    for source in progress.sources:
        latest, end = source_offsets(source.latestOffset), source_offsets(source.endOffset)
        for topic, partitions in latest.items():
            for partition, offset in partitions.items():
                ended = int(end.get(topic, {}).get(partition, offset))
                behind[(topic, int(partition))] = max(0, int(offset) - ended)
    return behind


def progress_line(
    batch_id: int, rows: int, verdicts: BatchVerdicts, duplicates: int, rows_per_second: float, behind: int
) -> str:
    return (
        f"batch {batch_id}: {rows} rows in = {verdicts.counted} counted + {duplicates} duplicates + "
        f"{verdicts.quarantined} quarantined, {rows_per_second:.1f} rows/s, "
        f"{verdicts.total} tickets counted, {behind:,} behind"
    )


def duplicates_dropped(progress: StreamingQueryProgress) -> int:
    """Rows the deduplication dropped as later copies of a ticket id, in this batch."""
    return sum(op.customMetrics.get("numDroppedDuplicateRows", 0) for op in progress.stateOperators)


def dropped_as_late(progress: StreamingQueryProgress) -> int:
    """Rows dropped as older than the watermark, in this batch (the time checks keep it 0)."""
    return sum(op.numRowsDroppedByWatermark for op in progress.stateOperators)


def state_bytes(progress: StreamingQueryProgress) -> dict[str, int]:
    """The deduplication state's size after this batch, summed over its partitions: on disk
    (RocksDB's SST files) and in memory (Spark's figure). Row counting is off for speed
    (tickets_job.session), so the state is watched by its bytes instead."""
    return {
        "disk": sum(int(op.customMetrics.get("rocksdbSstFileSize", 0)) for op in progress.stateOperators),
        "memory": sum(op.memoryUsedBytes for op in progress.stateOperators),
    }


class ProgressLog(StreamingQueryListener):
    """Logs each batch's progress from Spark's figures and the sink's verdicts (handed over by the
    sink, taken out as they are reported); `query` names the job's query. With a
    `committer` and `metrics`, each reported batch also goes to the consumer group and the metrics."""

    def __init__(
        self,
        query: str,
        verdicts: VerdictsHandover,
        expected: int | None = None,
        progress_file: Path | None = None,
        committer: GroupCommitter | None = None,
        metrics: JobMetrics | None = None,
    ) -> None:
        self.query = query
        self.verdicts = verdicts
        self.expected = expected
        self.progress_file = progress_file
        self.committer = committer
        self.metrics = metrics
        self.announced = 0  # the multiple of `expected` last announced

    def emit(self, event: dict[str, Any]) -> None:
        """Append one event to PROGRESS_FILE, if set."""
        if self.progress_file is not None:
            with self.progress_file.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"event": event.pop("event"), "time": now(), **event}) + "\n")

    def onQueryStarted(self, event: QueryStartedEvent) -> None:  # noqa: N802 (Spark's name)
        log.info("query %s started (run %s)", event.name, event.runId)
        self.emit({"event": "started", "query": event.name, "run_id": str(event.runId)})

    def onQueryProgress(self, event: QueryProgressEvent) -> None:  # noqa: N802
        progress = event.progress
        verdicts = self.verdicts.take(progress.batchId)
        if progress.name != self.query or verdicts is None:
            return
        rows = progress.numInputRows
        duplicates = duplicates_dropped(progress)
        by_partition = behind_by_partition(progress)
        behind = sum(by_partition.values())
        if self.committer is not None:
            self.committer.commit_later(end_offsets(progress))
        if self.metrics is not None:
            millis = progress.durationMs.get("triggerExecution", 0)
            self.metrics.observe(progress.batchId, rows, verdicts, duplicates, by_partition, millis)
            self.metrics.observe_state(state_bytes(progress))
        rate = progress.processedRowsPerSecond
        log.info("%s", progress_line(progress.batchId, rows, verdicts, duplicates, rate, behind))
        if self.progress_file is not None:  # the event, and Spark's progress parsed, only for a reader
            self.emit(
                {
                    "event": "batch",
                    "batch": progress.batchId,
                    "rows": rows,
                    "counted": verdicts.counted,
                    "duplicates": duplicates,
                    "quarantined": verdicts.quarantined,
                    "total": verdicts.total,
                    "behind": behind,
                    "rows_per_second": progress.processedRowsPerSecond,
                    "durations_ms": dict(progress.durationMs),
                    "sink_ms": verdicts.steps_ms,
                    "spark": json.loads(progress.json),
                }
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
        self.emit({"event": "stopped", "query": self.query, "error": event.exception})
