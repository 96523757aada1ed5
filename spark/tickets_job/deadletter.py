"""The dead-letter topic (DLQ_TOPIC, default `<KAFKA_TOPIC>.dlq`): every quarantined message again,
byte for byte, where Redpanda Console shows it and from where it can be replayed once fixed.

Each record is one rejected message:
    key      `<topic>-<partition>-<offset>` of the message: its position, which no other message has
    value    the message's value, byte for byte (no value for a null one)
    headers  dlq.reason, dlq.topic, dlq.partition, dlq.offset, dlq.batch (the micro-batch id), and
             dlq.key, the message's own key, when it had one

One live copy per rejected message: a micro-batch that Spark runs again after a crash writes its
rejected messages again, with the same keys and the same bytes. The topic is compacted
(cleanup.policy=compact), so Kafka keeps the newest record of each key, and a reader that takes
the last record per key sees each rejected message once even before compaction runs.

The batch's rejected messages are written and acknowledged (acks=all) before the sink writes its
files, so a micro-batch whose dead letters cannot be written counts nothing: DeadLetterError stops
the job with exit code 2 and one line naming the cause (the topic missing, no WRITE permission, a
broker away for longer than DELIVERY_TIMEOUT_SECONDS; a shorter absence is waited out).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from tickets_kafka.client import ClientSettings
from tickets_kafka.probe import first_answering

log = logging.getLogger(__name__)

HEADER_PREFIX = "dlq."
MAX_RECORD_BYTES = 2 * 1024 * 1024  # the dead-letter topic's max.message.bytes
# How long a batch's dead letters may wait for a broker that is away (retried meanwhile) before the
# job gives up; a refusal (no permission, a record too large) fails at once.
DELIVERY_TIMEOUT_SECONDS = 600


class DeadLetterError(RuntimeError):
    """The dead-letter topic cannot take the rejected messages; nothing of the batch is counted."""


def dead_letter_key(reject: Mapping[str, Any]) -> bytes:
    """`<topic>-<partition>-<offset>`: the rejected message's position, its key in the topic."""
    return f"{reject['topic']}-{reject['partition']}-{reject['offset']}".encode()


def dead_letter_headers(reject: Mapping[str, Any], batch_id: int) -> list[tuple[str, bytes]]:
    headers = [
        (HEADER_PREFIX + "reason", str(reject["reason"]).encode()),
        (HEADER_PREFIX + "topic", str(reject["topic"]).encode()),
        (HEADER_PREFIX + "partition", str(reject["partition"]).encode()),
        (HEADER_PREFIX + "offset", str(reject["offset"]).encode()),
        (HEADER_PREFIX + "batch", str(batch_id).encode()),
    ]
    if reject.get("key") is not None:
        headers.append((HEADER_PREFIX + "key", bytes(reject["key"])))
    return headers


class DeadLetters:
    """Writes each micro-batch's rejected messages to `topic` and waits for the broker's word."""

    def __init__(self, settings: ClientSettings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self._producer: KafkaProducer | None = None

    @property
    def producer(self) -> KafkaProducer:
        """The producer, connected on first use (kafka-python connects when it is made)."""
        if self._producer is None:
            self._producer = KafkaProducer(
                acks="all",
                # A retried write can only repeat a record with the same key and bytes, which
                # compaction folds: no need for the idempotent producer (and its extra ACLs).
                enable_idempotence=False,
                linger_ms=5,
                # A rejected message may be as large as the source topic allows (1 MB by default),
                # plus its headers; the dead-letter topic takes records up to 2 MiB.
                max_request_size=MAX_RECORD_BYTES,
                delivery_timeout_ms=DELIVERY_TIMEOUT_SECONDS * 1000,
                **self.settings.kafka_python_args("client-tickets-spark-dlq"),
            )
        return self._producer

    def check(self) -> None:
        """DeadLetterError when the topic does not exist (or the job's user may not see it).
        Skipped while no broker answers (the job waits for Kafka) and when the listing itself fails
        (a login or TLS refusal, which the job then reports as Kafka refusing it): the first write
        checks the same."""
        if first_answering(self.settings.bootstrap_servers) is None:
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

    def send(self, batch_id: int, rejects: Sequence[Mapping[str, Any]]) -> None:
        """Write the batch's rejected messages; DeadLetterError unless every one is acknowledged."""
        if not rejects:
            return
        try:
            futures = [
                self.producer.send(
                    self.topic,
                    key=dead_letter_key(reject),
                    value=None if reject["value"] is None else bytes(reject["value"]),
                    headers=dead_letter_headers(reject, batch_id),
                )
                for reject in rejects
            ]
            self.producer.flush()  # every send ends within the delivery timeout
            for future in futures:
                future.get(timeout=0)
        except KafkaError as err:
            raise DeadLetterError(
                f"the dead-letter topic {self.topic!r} did not take micro-batch {batch_id}'s "
                f"{len(rejects)} rejected messages: {type(err).__name__}: {err}"
            ) from err

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
