"""Which version of the query a checkpoint belongs to, so an incompatible one is refused.

CHECKPOINT_DIR holds the Structured Streaming checkpoint of the job's query (query/), the running
counts after each micro-batch (counts/) and `pipeline.json`, which names the version of the query
that wrote them and the ID of the topic they were read from. A checkpoint written by another query
(another aggregation, no deduplication...) would make Spark resume from offsets and state that
mean something else: tickets lost or counted twice. It is refused before Spark starts.

A checkpoint of another topic of the same name is refused too. `docker compose down -v` deletes
the broker's topic but keeps ./data; once the new topic has passed the old one's offsets, Spark
would resume from them, and the new topic's first messages would never be read. Kafka gives each
topic an ID (KIP-516), which `claim_topic` records at the first micro-batch and compares at the
first micro-batch of every later start (tickets_job.topic_identity).
"""

from __future__ import annotations

import json
import uuid

from tickets_job.errors import IncompatibleCheckpointError, TopicRecreatedError
from tickets_job.lease import LEASE
from tickets_job.storage import Folder

# Bump when a change to the query makes existing checkpoints unusable (state, sources, sinks).
QUERY_VERSION = 3
QUERY = (
    "one query: parse; deduplicate every message (valid by ticket_id, rejected by position) in RocksDB "
    "state; sink: count by type, quarantine the rejected"
)
MARKER = "pipeline.json"
RESET_ADVICE = (
    "reset it with `make clean` (deletes the output, the quarantine and the checkpoints, so the "
    "next run counts the topic from its first offset), or point CHECKPOINT_DIR at an empty folder"
)


def claim_checkpoint(checkpoint_dir: Folder, version: int = QUERY_VERSION) -> str:
    """Accept an empty or same-version checkpoint folder (marking a new one); refuse any other.
    Returns the checkpoint's writer ID: a UUID of its own, recorded in pipeline.json, under which the
    job's writes to the lake are made idempotent (tickets_job.lake)."""
    text = checkpoint_dir.read_text(MARKER)
    if text is not None:
        recorded = json.loads(text)
        found = recorded.get("query_version")
        if found == version:
            if "writer_id" not in recorded:  # recorded before the lake was written
                recorded["writer_id"] = str(uuid.uuid4())
                checkpoint_dir.write_text(MARKER, json.dumps(recorded, indent=2) + "\n")
            return recorded["writer_id"]
        written_by = f"version {found} of the query"
    elif not checkpoint_dir.is_empty(ignoring=(LEASE,)):
        written_by = "an earlier version of the query (it has no pipeline.json)"
    else:
        marker = {"query_version": version, "query": QUERY, "writer_id": str(uuid.uuid4())}
        checkpoint_dir.write_text(MARKER, json.dumps(marker, indent=2) + "\n")
        return marker["writer_id"]
    raise IncompatibleCheckpointError(
        f"the checkpoint in {checkpoint_dir} was written by {written_by}, and this job runs "
        f"version {version}: resuming from it could lose tickets or count them twice. To start "
        f"over, {RESET_ADVICE}."
    )


def claim_topic(checkpoint_dir: Folder, topic: str, topic_id: uuid.UUID | None) -> None:
    """Record the topic's ID in pipeline.json (the first time, or for a checkpoint written before
    IDs were recorded); refuse a topic with another ID, and a broker that reports no ID (None) for
    a checkpoint that recorded one. The marker exists: claim_checkpoint wrote it."""
    recorded = json.loads(checkpoint_dir.read_text(MARKER) or "{}")
    known = recorded.get("topic_id")
    if topic_id is None:
        if known is not None:
            raise TopicRecreatedError(
                f"Kafka reports no ID for topic {topic!r}, and the checkpoint in {checkpoint_dir} was read "
                f"from a topic with ID {known}: nothing shows that this is the same topic (another "
                "broker, or one that keeps no topic IDs). Resuming at the old topic's offsets could skip "
                f"this topic's first messages. To count this topic, {RESET_ADVICE}."
            )
        return
    if known is None:
        claimed = {**recorded, "topic": topic, "topic_id": str(topic_id)}
        checkpoint_dir.write_text(MARKER, json.dumps(claimed, indent=2) + "\n")
        return
    if known != str(topic_id):
        raise TopicRecreatedError(
            f"topic {topic!r} (ID {topic_id}) is not the topic the checkpoint in {checkpoint_dir} was "
            f"read from ({recorded.get('topic', topic)!r}, ID {known}): it was deleted and created again "
            "(as `docker compose down -v` does), or KAFKA_TOPIC names another topic. Resuming at the old "
            f"topic's offsets would skip the new topic's first messages. To count this topic, {RESET_ADVICE}."
        )
