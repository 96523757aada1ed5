"""The job's consumer group (KAFKA_GROUP_ID), so that Redpanda Console, `rpk group describe` and
`kafka-consumer-groups.sh --describe` show how far behind the job is, partition by partition.

Spark's Kafka source keeps its offsets in the checkpoint and commits none to Kafka. After each
micro-batch whose outputs are durable (Spark reports its progress only then), the end offsets of
that batch are committed to the group, for monitoring only: the checkpoint stays the one source of
truth, the job never reads the group's offsets back, and a restart resumes from the checkpoint.

The commits run in a thread of their own, newest batch first (a batch not yet committed when the
next one ends is skipped): a commit that fails or hangs never fails or slows the job. A failure is
logged once, as a warning, and retried with the next batch; the recovery is logged too.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from tickets_kafka.client import ClientSettings

log = logging.getLogger(__name__)

COMMIT_TIMEOUT_MS = 10_000

Offsets = dict[TopicPartition, int]


class GroupCommitter:
    """Commits the newest reported end offsets to `group_id`, from a thread of its own."""

    def __init__(self, settings: ClientSettings, group_id: str) -> None:
        self.settings = settings
        self.group_id = group_id
        self.pending: Offsets | None = None
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.closing = False
        self.failing = False
        self.consumer: KafkaConsumer | None = None
        self.thread = threading.Thread(target=self._run, name="group-commits", daemon=True)
        self.thread.start()

    def commit_later(self, offsets: Offsets) -> None:
        """Have `offsets` committed soon (replacing any not yet committed); never blocks."""
        if offsets:
            with self.lock:
                self.pending = offsets
            self.wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is pending, then stop the thread (waiting at most `timeout` seconds)."""
        self.closing = True
        self.wake.set()
        self.thread.join(timeout)

    def _take(self) -> Offsets | None:
        with self.lock:
            offsets, self.pending = self.pending, None
        return offsets

    def _run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            while (offsets := self._take()) is not None:  # also what came while one was committed
                self._commit(offsets)
            if self.closing:
                break
        if self.consumer is not None:
            self.consumer.close(autocommit=False, timeout_ms=2000)

    def _commit(self, offsets: Offsets) -> None:
        try:
            if self.consumer is None:
                self.consumer = KafkaConsumer(
                    group_id=self.group_id,
                    enable_auto_commit=False,
                    **self.settings.kafka_python_args("client-tickets-spark-group"),
                )
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()},
                timeout_ms=COMMIT_TIMEOUT_MS,
            )
        except Exception as err:  # monitoring only: never the job's failure
            if not self.failing:
                log.warning(
                    "cannot commit the job's offsets to consumer group %r (%s: %s); the job goes on, "
                    "and the group's lag is stale until a later batch's commit succeeds",
                    self.group_id,
                    type(err).__name__,
                    err,
                )
            self.failing = True
            return
        if self.failing:
            log.info("the job's offsets are committed to consumer group %r again", self.group_id)
        self.failing = False
