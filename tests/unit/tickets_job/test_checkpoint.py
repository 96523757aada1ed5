"""The checkpoint's marker: the query's version and the topic's ID (tickets_job.checkpoint,
tickets_job.topic_identity)."""

import json
import logging
import uuid

import pytest

from tickets_job import topic_identity
from tickets_job.checkpoint import (
    MARKER,
    QUERY_VERSION,
    IncompatibleCheckpointError,
    TopicRecreatedError,
    claim_checkpoint,
    claim_topic,
)
from tickets_job.settings import Settings as JobSettings
from tickets_job.storage import LocalFolder
from tickets_job.topic_identity import NO_ID, TopicIdentity


def test_a_new_checkpoint_is_marked_with_the_query_version(tmp_path):
    claim_checkpoint(LocalFolder(tmp_path / "cp"))
    assert json.loads((tmp_path / "cp" / MARKER).read_text())["query_version"] == QUERY_VERSION


def test_a_checkpoint_of_the_same_version_is_accepted_again(tmp_path):
    claim_checkpoint(LocalFolder(tmp_path))
    (tmp_path / "counts").mkdir()
    claim_checkpoint(LocalFolder(tmp_path))


def test_a_checkpoint_of_another_version_is_refused_with_the_reset_command(tmp_path):
    claim_checkpoint(LocalFolder(tmp_path), version=1)
    with pytest.raises(IncompatibleCheckpointError, match="version 1 of the query") as error:
        claim_checkpoint(LocalFolder(tmp_path), version=2)
    assert "make clean" in str(error.value)


def test_a_checkpoint_without_marker_is_refused(tmp_path):
    (tmp_path / "offsets").mkdir()
    with pytest.raises(IncompatibleCheckpointError, match=r"no pipeline\.json"):
        claim_checkpoint(LocalFolder(tmp_path))


def test_the_topics_id_is_recorded_at_the_first_batch_and_a_recreated_topic_is_refused(tmp_path):
    old, new = uuid.uuid4(), uuid.uuid4()
    claim_checkpoint(LocalFolder(tmp_path))
    claim_topic(LocalFolder(tmp_path), "client_tickets", old)
    marker = json.loads((tmp_path / MARKER).read_text())
    assert (marker["query_version"], marker["topic"], marker["topic_id"]) == (
        QUERY_VERSION,
        "client_tickets",
        str(old),
    )
    claim_checkpoint(LocalFolder(tmp_path))  # a later start: the same query, the same topic
    claim_topic(LocalFolder(tmp_path), "client_tickets", old)
    with pytest.raises(
        TopicRecreatedError, match=rf"\(ID {new}\) is not the topic .* \('client_tickets', ID {old}\)"
    ) as error:
        claim_topic(LocalFolder(tmp_path), "client_tickets", new)
    assert "make clean" in str(error.value)
    assert json.loads((tmp_path / MARKER).read_text())["topic_id"] == str(old)  # kept for the reset


class Reported:
    """A broker's answer for the topic's ID, and how often it was asked."""

    def __init__(self, topic_id: uuid.UUID) -> None:
        self.topic_id, self.asked = topic_id, 0

    def __call__(self, settings: JobSettings) -> uuid.UUID:
        self.asked += 1
        return self.topic_id


def test_the_topic_is_looked_up_once_per_start_and_a_broker_without_ids_is_said_once(
    tmp_path, monkeypatch, caplog
):
    settings = JobSettings(checkpoint_dir=tmp_path)
    claim_checkpoint(LocalFolder(tmp_path))
    reported = Reported(NO_ID)
    monkeypatch.setattr(topic_identity, "topic_id", reported)
    identity = TopicIdentity(settings, LocalFolder(tmp_path))
    with caplog.at_level(logging.WARNING, logger="tickets_job.topic_identity"):
        identity.check()
        identity.check()
    assert reported.asked == 1
    assert [record.getMessage().split(": a topic")[0] for record in caplog.records] == [
        f"Kafka at {settings.bootstrap_servers} reports no ID for topic 'client_tickets'"
    ]
    assert "topic_id" not in json.loads((tmp_path / MARKER).read_text())  # nothing to compare later
    monkeypatch.setattr(topic_identity, "topic_id", Reported(uuid.uuid4()))
    TopicIdentity(settings, LocalFolder(tmp_path)).check()  # the next start, on a broker with IDs: recorded
    monkeypatch.setattr(topic_identity, "topic_id", Reported(uuid.uuid4()))
    with pytest.raises(TopicRecreatedError):
        TopicIdentity(settings, LocalFolder(tmp_path)).check()


def test_a_broker_without_ids_is_refused_once_the_checkpoint_recorded_one(tmp_path, monkeypatch):
    """A start on a broker that reports no ID, after one that did: nothing shows that the topic is
    the same, so the start is refused rather than resumed at the old offsets."""
    settings = JobSettings(checkpoint_dir=tmp_path)
    claim_checkpoint(LocalFolder(tmp_path))
    recorded = uuid.uuid4()
    monkeypatch.setattr(topic_identity, "topic_id", Reported(recorded))
    TopicIdentity(settings, LocalFolder(tmp_path)).check()
    monkeypatch.setattr(topic_identity, "topic_id", Reported(NO_ID))
    with pytest.raises(TopicRecreatedError, match=rf"reports no ID .* a topic with ID {recorded}") as error:
        TopicIdentity(settings, LocalFolder(tmp_path)).check()
    assert "make clean" in str(error.value)
