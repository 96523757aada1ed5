"""The dead-letter topic (DLQ_TOPIC, default `<KAFKA_TOPIC>.dlq`): every quarantined message again,
where Redpanda Console shows it and from where it can be replayed once fixed.

Each record is one rejected message:
    key      `<topic>-<partition>-<offset>` of the message: its position, which no other message has
    value    the message's value, byte for byte, up to VALUE_LIMIT bytes; empty for a null value
             (never a null record, which compaction would take for a tombstone and delete)
    headers  dlq.reason (control characters escaped as in the quarantine), dlq.topic,
             dlq.partition, dlq.offset, dlq.batch (the micro-batch id), dlq.value_bytes (the
             value's own size); dlq.key, the message's own key, up to KEY_LIMIT bytes, when it
             had one; dlq.value_null=true for a null value; dlq.truncated=value, key or key,value
             when a part was cut

Every record is bounded (VALUE_LIMIT + KEY_LIMIT and a few headers, under the topic's
MAX_RECORD_BYTES), so no message can be too large for the topic, however far it inflates once
decompressed. The records are written by Spark's own Kafka sink from the executors, which read the
rejected messages again from Kafka by their positions: a message's bytes never reach the driver
(it holds only the batch's quarantine rows, each bounded: tickets_job.transforms.quarantine_row),
and the micro-batch itself is not computed again (that would run its deduplication twice and count
its duplicates twice in Spark's metrics).

One live copy per rejected message: a micro-batch that Spark runs again after a crash writes its
rejected messages again, with the same keys and the same bytes. The topic is compacted and
deleted by age (cleanup.policy=compact,delete, retention.ms RETENTION_MS): Kafka keeps the newest
record of each key for RETENTION_MS, and a reader that takes the last record per key sees each
rejected message once even before compaction runs.

A batch's rejected messages are written and acknowledged (acks=all) before the sink writes its
files, so a micro-batch whose dead letters cannot be written counts nothing: DeadLetterError stops
the job with exit code 2 and one line naming the cause (the topic missing, no WRITE permission, a
broker away for longer than DELIVERY_TIMEOUT_SECONDS; a shorter absence is waited out).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from tickets_job.errors import DeadLetterError
from tickets_job.export import UNSAFE
from tickets_job.java_errors import root_cause
from tickets_kafka.client import ClientSettings
from tickets_kafka.probe import first_answering

log = logging.getLogger(__name__)

HEADER_PREFIX = "dlq."
MAX_RECORD_BYTES = 2 * 1024 * 1024  # the dead-letter topic's max.message.bytes
VALUE_LIMIT = 1_000_000  # bytes of a rejected message's value kept
KEY_LIMIT = 65_536  # bytes of its key kept (the header dlq.key)
# How long a dead letter is kept (the topic's retention.ms): time to look at it and replay it.
RETENTION_MS = 7 * 24 * 3600 * 1000
# How long a batch's dead letters may wait for a broker that is away (retried meanwhile) before the
# job gives up; a refusal (no permission) fails at once.
DELIVERY_TIMEOUT_SECONDS = 600

_UNSAFE_CLASS = "[" + "".join(f"\\x{{{code:04x}}}" for code in UNSAFE) + "]"


def printable_column(text: Column) -> Column:
    """`text` with every control character and line separator as its \\u escape, in Spark (the
    same escapes as tickets_job.export.printable, which a unit test holds it to)."""
    escaped = text
    for code in UNSAFE:
        escaped = F.replace(escaped, F.lit(chr(code)), F.lit(f"\\u{code:04x}"))
    return F.when(text.rlike(_UNSAFE_CLASS), escaped).otherwise(text)


def _header(name: str, value: Column, as_text: bool = True) -> Column:
    """A Kafka header: the name, and the value as text (numbers in decimal) or bytes as they are."""
    data = value.cast("string").cast("binary") if as_text else value
    return F.struct(F.lit(HEADER_PREFIX + name).alias("key"), data.alias("value"))


def dead_letter_records(rejected: DataFrame, batch_id: int) -> DataFrame:
    """Rejected Kafka messages (key, value, topic, partition, offset, and their `reason`) as the
    Kafka sink's rows: key, value, headers."""
    value_bytes = F.coalesce(F.octet_length("value"), F.lit(0))
    value_cut = value_bytes > VALUE_LIMIT
    key_cut = F.coalesce(F.octet_length("key"), F.lit(0)) > KEY_LIMIT
    truncated = F.concat_ws(",", F.when(key_cut, F.lit("key")), F.when(value_cut, F.lit("value")))
    headers = F.array(
        _header("reason", printable_column(F.col("reason"))),
        _header("topic", F.col("topic")),
        _header("partition", F.col("partition")),
        _header("offset", F.col("offset")),
        _header("batch", F.lit(batch_id)),
        _header("value_bytes", value_bytes),
        _header("key", F.substring("key", 1, KEY_LIMIT), as_text=False),
        _header("value_null", F.when(F.col("value").isNull(), F.lit("true"))),
        _header("truncated", F.nullif(truncated, F.lit(""))),
    )
    return rejected.select(
        F.concat_ws("-", "topic", "partition", "offset").cast("binary").alias("key"),
        F.coalesce(F.substring("value", 1, VALUE_LIMIT), F.lit(b"")).alias("value"),
        F.filter(headers, lambda header: header["value"].isNotNull()).alias("headers"),
    )


def positions(rejects: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, int], dict[str, int]]:
    """The topic of the rejected messages and, per partition, the offsets to read them from and to
    (the end excluded), as the Kafka source's startingOffsets and endingOffsets take them."""
    [topic] = {reject["topic"] for reject in rejects}
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    for reject in rejects:
        partition, offset = str(reject["partition"]), int(reject["offset"])
        starts[partition] = min(starts.get(partition, offset), offset)
        ends[partition] = max(ends.get(partition, offset + 1), offset + 1)
    return topic, starts, ends


class DeadLetters:
    """Writes each micro-batch's rejected messages to `topic` and waits for the broker's word."""

    def __init__(
        self, settings: ClientSettings, topic: str, spark_options: dict[str, str], poll_records: int
    ) -> None:
        self.settings = settings
        self.topic = topic
        # Spark's Kafka source and sink: where Kafka is and how the job logs in (the streaming
        # source's own options), then how the rejected messages are read again and produced.
        self.read_options = {**spark_options, "kafka.max.poll.records": str(poll_records)}
        self.write_options = {
            **spark_options,
            "topic": topic,
            "kafka.acks": "all",
            # A retried write can only repeat a record with the same key and bytes, which
            # compaction folds: no need for the idempotent producer (and its extra ACLs).
            "kafka.enable.idempotence": "false",
            "kafka.linger.ms": "5",
            "kafka.max.request.size": str(MAX_RECORD_BYTES),
            "kafka.delivery.timeout.ms": str(DELIVERY_TIMEOUT_SECONDS * 1000),
            "kafka.client.id": "client-tickets-spark-dlq",
        }

    def check(self) -> None:
        """DeadLetterError when the topic does not exist (or the job's user may not see it).
        Skipped while no broker answers (the job waits for Kafka) and when the listing itself fails
        (a login or TLS refusal, which the job then reports as Kafka refusing it): the first write
        checks the same."""
        if first_answering(self.settings.servers) is None:
            return
        try:
            lister = KafkaConsumer(**self.settings.kafka_python_args("client-tickets-spark-dlq"))
            try:
                visible = lister.topics()
            finally:
                lister.close()
        except Exception as err:  # any refusal: the query's own start names it better
            log.debug("the dead-letter topic is not looked for now: %s", err)
            return
        if self.topic not in visible:
            raise DeadLetterError(
                f"the dead-letter topic {self.topic!r} does not exist or the job's user may not see it: "
                "create it (compacted; make broker-up and the Docker stack do), or set DLQ_TOPIC=off"
            )

    def write(self, spark: SparkSession, rejects: Sequence[Mapping[str, Any]], batch_id: int) -> None:
        """Write a batch's rejected messages (its quarantine rows) from the executors, which read
        them again from Kafka by position; DeadLetterError unless every one is acknowledged (Spark's
        Kafka sink flushes its producer and fails the task otherwise)."""
        if not rejects:
            return
        topic, starts, ends = positions(rejects)
        reasons = spark.createDataFrame(
            [(int(r["partition"]), int(r["offset"]), r["reason"]) for r in rejects],
            "partition int, offset long, reason string",
        )
        try:
            messages = (
                spark.read.format("kafka")
                .options(**self.read_options)
                .option("assign", json.dumps({topic: sorted(map(int, starts))}))
                .option("startingOffsets", json.dumps({topic: starts}))
                .option("endingOffsets", json.dumps({topic: ends}))
                .load()
            )
            rejected = messages.join(F.broadcast(reasons), ["partition", "offset"])
            dead_letter_records(rejected, batch_id).write.format("kafka").options(**self.write_options).save()
        except Exception as err:
            raise DeadLetterError(
                f"the dead-letter topic {self.topic!r} did not take micro-batch {batch_id}'s "
                f"{len(rejects)} rejected messages: {root_cause(err)}"
            ) from err
