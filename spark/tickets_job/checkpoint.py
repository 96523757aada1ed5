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
from pathlib import Path

from tickets_job.export import replace_file

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


class IncompatibleCheckpointError(RuntimeError):
    """The checkpoint was written by another query; the message names the reset command."""


class TopicRecreatedError(RuntimeError):
    """The topic is not the one the checkpoint was written for; the message names the reset command."""


def claim_checkpoint(checkpoint_dir: Path, version: int = QUERY_VERSION) -> None:
    """Accept an empty or same-version checkpoint folder (marking a new one); refuse any other."""
    marker = checkpoint_dir / MARKER
    if marker.is_file():
        found = json.loads(marker.read_text(encoding="utf-8")).get("query_version")
        if found == version:
            return
        written_by = f"version {found} of the query"
    elif checkpoint_dir.is_dir() and any(checkpoint_dir.iterdir()):
        written_by = "an earlier version of the query (it has no pipeline.json)"
    else:
        replace_file(marker, json.dumps({"query_version": version, "query": QUERY}, indent=2) + "\n")
        return
    raise IncompatibleCheckpointError(
        f"the checkpoint in {checkpoint_dir} was written by {written_by}, and this job runs "
        f"version {version}: resuming from it could lose tickets or count them twice. To start "
        f"over, {RESET_ADVICE}."
    )


def claim_topic(checkpoint_dir: Path, topic: str, topic_id: uuid.UUID | None) -> None:
    """Record the topic's ID in pipeline.json (the first time, or for a checkpoint written before
    IDs were recorded); refuse a topic with another ID, and a broker that reports no ID (None) for
    a checkpoint that recorded one. The marker exists: claim_checkpoint wrote it."""
    marker = checkpoint_dir / MARKER
    recorded = json.loads(marker.read_text(encoding="utf-8"))
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
        replace_file(marker, json.dumps(claimed, indent=2) + "\n")
        return
    if known != str(topic_id):
        raise TopicRecreatedError(
            f"topic {topic!r} (ID {topic_id}) is not the topic the checkpoint in {checkpoint_dir} was "
            f"read from ({recorded.get('topic', topic)!r}, ID {known}): it was deleted and created again "
            "(as `docker compose down -v` does), or KAFKA_TOPIC names another topic. Resuming at the old "
            f"topic's offsets would skip the new topic's first messages. To count this topic, {RESET_ADVICE}."
        )
