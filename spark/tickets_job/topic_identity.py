"""The topic's identity, checked once per start at the first micro-batch, before it reads anything.

Spark's Kafka source resumes from the checkpoint's offsets and checks only that the topic still
reaches them. A topic deleted and created again that has already passed them looks the same as the
old one, and the new topic's messages before that position would be skipped, neither counted nor
quarantined. Kafka's topic ID (KIP-516, brokers since 2.8) tells the two apart: it is recorded in the
checkpoint's pipeline.json and compared (tickets_job.checkpoint.claim_topic), and a mismatch stops
the job with exit code 3 and the reset command.

The check runs at the first micro-batch rather than before the query starts: the job starts
whether Kafka is reachable or not (it waits for it), and Spark has just reached the topic when a
batch begins. A broker that reports no ID (all zeros: older than 2.8, or a Kafka-compatible broker
without IDs) leaves only Spark's own check of the position, which the log says once; it is refused
(exit 3) when the checkpoint recorded an ID, since nothing then shows that the topic is the same.
"""

from __future__ import annotations

import logging
import uuid

from kafka.admin import KafkaAdminClient

from tickets_job.checkpoint import claim_topic
from tickets_job.settings import Settings
from tickets_job.storage import Folder

log = logging.getLogger(__name__)

NO_ID = uuid.UUID(int=0)


def topic_id(settings: Settings) -> uuid.UUID:
    """The topic's ID as the broker reports it in its metadata (NO_ID when it has none)."""
    admin = KafkaAdminClient(**settings.kafka_python_args("client-tickets-spark-admin"))
    try:
        [described] = admin.describe_topics([settings.topic])
    finally:
        admin.close()
    found = described.get("topic_id")  # kafka-python gives it as text ("c297c430-3e15-...")
    try:
        return NO_ID if found is None else uuid.UUID(str(found))
    except ValueError:
        return NO_ID


class TopicIdentity:
    """Called by the sink before each micro-batch; looks the topic up at the first one only."""

    def __init__(self, settings: Settings, checkpoint: Folder) -> None:
        self.settings = settings
        self.checkpoint = checkpoint
        self.checked = False

    def check(self) -> None:
        """TopicRecreatedError when the topic is not the one the checkpoint was read from."""
        if self.checked:
            return
        found = topic_id(self.settings)
        claim_topic(self.checkpoint, self.settings.topic, None if found == NO_ID else found)
        if found == NO_ID:
            log.warning(
                "Kafka at %s reports no ID for topic %r: a topic deleted and created again is caught "
                "only while it is shorter than the checkpoint's position",
                self.settings.bootstrap_servers,
                self.settings.topic,
            )
        self.checked = True
