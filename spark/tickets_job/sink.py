"""The job's one foreachBatch sink: each micro-batch's verdicts become the part file and the quarantine.

Spark hands the sink the rows that came out of the deduplication operator for one micro-batch:
the first copy of each new ticket and every rejected message (see transforms.first_copies). Both
files come from one action over the batch (transforms.verdicts: each rejected message's quarantine
row collected, bounded in size, the new tickets counted by type as observed metrics of the same
action), so the batch, and with it the deduplication state, is computed once. (Persisting the
batch and reading it twice, the Spark documentation's way to feed several outputs, and counting
with a groupBy measured slower: docs/PERFORMANCE.md.)

With a dead-letter topic (tickets_job.deadletter), a batch that rejected messages writes them
there by a second Spark job, which reads them again from Kafka by position and writes them with
Spark's Kafka sink on the executors, and they are acknowledged before any file is written: a batch
whose dead letters cannot be written counts nothing, and the messages' bytes never reach the
driver, which holds a batch's quarantine rows only (at most MAX_OFFSETS_PER_TRIGGER of them, each
bounded: transforms.quarantine_row).

With the lake (tickets_job.lake), each batch is persisted before it is judged, and a second Spark
job appends its counted tickets from those persisted rows to the `tickets` table (judging it
again would run the deduplication twice); the counts after the batch go to `ticket_counts`.

Idempotent per batch id, because Spark runs a batch again after a crash (same id, same offsets,
same timestamp, same state):
  - the running counts after each batch are kept as CHECKPOINT_DIR/counts/<batch id>.json, and
    batch N starts from the file of batch N - 1 (which Spark committed before planning N), never
    from whatever a crashed attempt of N left behind;
  - the quarantine file of batch N is named after N and replaced whole;
  - the part file is replaced whole, in one rename, with the counts after N;
  - the dead letters of N are written again with the same keys (one live copy per key);
  - the lake's appends of N name N in their commits, and are skipped when the table holds them.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation

from tickets_job.deadletter import DeadLetters
from tickets_job.errors import MissingCountsError
from tickets_job.export import export_counts, export_rejects, printable, prune_quarantine
from tickets_job.lake import Lake
from tickets_job.storage import Folder
from tickets_job.transforms import verdicts

log = logging.getLogger(__name__)

# A re-run only ever concerns the newest batch; a few more are kept for whoever looks.
KEEP_BATCHES = 10


class RunningCounts:
    """The counts by type after each micro-batch, one small JSON file per batch id in `folder`."""

    def __init__(self, folder: Folder) -> None:
        self.folder = folder

    def before(self, batch_id: int) -> dict[str, int]:
        """The counts after batch `batch_id - 1`: empty before the first batch of a checkpoint."""
        if batch_id == 0:
            return {}
        previous = f"{batch_id - 1}.json"
        if (text := self.folder.read_text(previous)) is not None:
            return json.loads(text)
        raise MissingCountsError(
            f"{self.folder / previous} is missing, so the counts before micro-batch {batch_id} are unknown"
        )

    def save(self, batch_id: int, counts: dict[str, int]) -> None:
        self.folder.write_text(f"{batch_id}.json", json.dumps(counts, sort_keys=True) + "\n")
        # Batch ids follow one another, so deleting the one that falls out keeps KEEP_BATCHES (one
        # request, not a listing, on S3).
        if batch_id >= KEEP_BATCHES:
            self.folder.delete(f"{batch_id - KEEP_BATCHES}.json")


def reason_kind(reason: str) -> str:
    """A quarantine reason without the value it quotes: "unknown type 'X'" -> "unknown type"."""
    return reason.split(" '", 1)[0]


@dataclass(frozen=True)
class BatchVerdicts:
    """How one micro-batch's messages were judged by the sink (duplicates are Spark's figure)."""

    counted: int
    quarantined: int
    total: int  # tickets counted since the checkpoint began
    counts: dict[str, int] = field(default_factory=dict)  # by type, since the checkpoint began
    reasons: dict[str, int] = field(default_factory=dict)  # this batch's rejects by reason_kind
    steps_ms: dict[str, float] = field(default_factory=dict)  # the sink's time by step (Stopwatch)


class VerdictsHandover:
    """Each micro-batch's verdicts from the sink, which runs on Spark's foreachBatch thread, to the
    progress listener, which runs on Spark's listener thread: both sides go through one lock."""

    def __init__(self, waiting: Mapping[int, BatchVerdicts] | None = None) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, BatchVerdicts] = dict(waiting or {})

    def put(self, batch_id: int, verdicts: BatchVerdicts) -> None:
        with self._lock:
            self._waiting[batch_id] = verdicts

    def take(self, batch_id: int) -> BatchVerdicts | None:
        """The verdicts of `batch_id`, handed over once; those of earlier batches, which ran again
        after a failure and were never reported, are dropped."""
        with self._lock:
            verdicts = self._waiting.pop(batch_id, None)
            for older in [batch for batch in self._waiting if batch < batch_id]:
                del self._waiting[older]
            return verdicts

    def __getitem__(self, batch_id: int) -> BatchVerdicts:
        """The verdicts of `batch_id` still waiting (KeyError when none), left in place."""
        with self._lock:
            return self._waiting[batch_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)


class Stopwatch:
    """Milliseconds spent in each named step of one micro-batch's sink, in the order they ran."""

    def __init__(self) -> None:
        self.steps_ms: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.steps_ms[name] = round((time.perf_counter() - started) * 1000, 1)


class VerdictSink:
    """foreachBatch sink: counts to the part file, rejected messages to the quarantine."""

    def __init__(
        self,
        output_dir: Path,
        quarantine_dir: Path,
        counts_dir: Folder,
        dead_letters: DeadLetters | None = None,
        checks: tuple[Callable[[], None], ...] = (),
        quarantine_days: int | None = None,
        lake: Lake | None = None,
    ) -> None:
        self.output_dir = output_dir
        self.lake = lake
        # Quarantine files older than this are deleted at the first batch and whenever a batch
        # writes one (None: kept for ever).
        self.quarantine_days = quarantine_days
        self.pruned_since_start = False
        # Called before each micro-batch reads anything (its DataFrame is not run yet): each raises
        # when the batch must not run (another topic of the same name; the checkpoint's lease lost).
        self.checks = checks
        self.dead_letters = dead_letters
        self.quarantine_dir = quarantine_dir
        self.counts = RunningCounts(counts_dir)
        # each batch's verdicts, until the progress reports them
        self.verdicts = VerdictsHandover()
        # What made a batch fail, for the exit code (tickets_job.failures): Spark hands the query
        # only a Py4J error that carries the Python traceback as text.
        self.failure: Exception | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        try:
            self.judge(batch, batch_id)
        except Exception as err:
            self.failure = err
            raise

    def judge(self, batch: DataFrame, batch_id: int) -> None:
        for check in self.checks:
            check()
        clock = Stopwatch()
        counted = Observation(f"verdicts of micro-batch {batch_id}")
        batch_time = datetime.datetime.now(datetime.UTC)
        if self.lake is not None:
            # The tickets go to the lake by a second Spark job, which must read the batch that
            # the first one judged, not judge it again: Spark would run the deduplication twice.
            batch = batch.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            with clock.step("collect"):  # the Spark job: read, parse, deduplicate, count
                rejects = [row["reject"].asDict() for row in verdicts(batch, counted).collect()]
                new = {ticket_type: count for ticket_type, count in counted.get.items() if count}
            if self.lake is not None and new:
                with clock.step("lake"):
                    self.lake.append_tickets(batch, batch_id, batch_time)
        finally:
            if self.lake is not None:
                batch.unpersist()
        rejects.sort(key=lambda reject: (reject["partition"], reject["offset"]))

        counts = self.counts.before(batch_id)
        for ticket_type, count in new.items():
            counts[ticket_type] = counts.get(ticket_type, 0) + count
        if self.dead_letters is not None and rejects:
            with clock.step("dead_letters"):
                self.dead_letters.write(batch.sparkSession, rejects, batch_id)
        with clock.step("quarantine"):
            export_rejects(self.quarantine_dir, batch_id, rejects)
            if self.quarantine_days is not None and (rejects or not self.pruned_since_start):
                for old in prune_quarantine(self.quarantine_dir, self.quarantine_days):
                    log.info("deleted %s: older than %d days", old, self.quarantine_days)
                self.pruned_since_start = True
        if self.lake is not None and new:
            with clock.step("lake_counts"):
                self.lake.append_counts(batch.sparkSession, counts, batch_id, batch_time)
        with clock.step("counts"):
            self.counts.save(batch_id, counts)
        with clock.step("part"):
            export_counts(self.output_dir, counts.items())

        self.verdicts.put(
            batch_id,
            BatchVerdicts(
                counted=sum(new.values()),
                quarantined=len(rejects),
                total=sum(counts.values()),
                counts=counts,
                reasons=dict(Counter(reason_kind(reject["reason"]) for reject in rejects)),
                steps_ms=clock.steps_ms,
            ),
        )
        for row in rejects[:5]:  # the reason quotes the message: its control characters escaped
            reason = printable(row["reason"])
            log.warning("quarantined %s[%d]@%d: %s", row["topic"], row["partition"], row["offset"], reason)
