"""tickets_job.group: the consumer group's commits, newest first, from a thread of their own, and
never the job's failure (kafka-python's consumer replaced by a recording one)."""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

from kafka import TopicPartition

from tickets_job import group
from tickets_job.group import GroupCommitter
from tickets_kafka.client import ClientSettings

TP = TopicPartition("client_tickets", 0)


class FakeConsumer:
    instances: ClassVar[list[FakeConsumer]] = []
    fail: ClassVar[bool] = False
    gate: ClassVar[threading.Event | None] = None

    def __init__(self, **config: object) -> None:
        self.config = config
        self.commits: list[dict[TopicPartition, int]] = []
        self.closed = False
        FakeConsumer.instances.append(self)

    def commit(self, offsets, timeout_ms: int) -> None:
        if FakeConsumer.gate is not None:
            FakeConsumer.gate.wait(5)
        if FakeConsumer.fail:
            raise TimeoutError("the coordinator did not answer")
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

    def close(self, autocommit: bool, timeout_ms: int) -> None:
        self.closed = True


def committer(monkeypatch) -> GroupCommitter:
    FakeConsumer.instances, FakeConsumer.fail, FakeConsumer.gate = [], False, None
    monkeypatch.setattr(group, "KafkaConsumer", FakeConsumer)
    return GroupCommitter(ClientSettings(), "client-tickets-spark")


def test_a_batch_not_yet_committed_is_replaced_by_the_newest(monkeypatch):
    commits = committer(monkeypatch)
    FakeConsumer.gate = threading.Event()
    commits.commit_later({TP: 10})  # taken by the thread, which waits in commit()
    threading.Event().wait(0.2)
    commits.commit_later({TP: 20})
    commits.commit_later({TP: 30})  # replaces 20 before it was taken
    FakeConsumer.gate.set()
    commits.close()
    (consumer,) = FakeConsumer.instances
    assert consumer.commits == [{TP: 10}, {TP: 30}]
    assert consumer.config["group_id"] == "client-tickets-spark"
    assert consumer.config["enable_auto_commit"] is False
    assert consumer.closed


def test_failing_commits_warn_once_and_the_recovery_is_said(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="tickets_job.group")
    commits = committer(monkeypatch)
    FakeConsumer.fail = True
    for offset in (1, 2, 3):
        commits.commit_later({TP: offset})
        threading.Event().wait(0.1)
    FakeConsumer.fail = False
    commits.commit_later({TP: 4})
    commits.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "TimeoutError: the coordinator did not answer" in warnings[0].getMessage()
    assert any(
        "committed to consumer group 'client-tickets-spark' again" in r.getMessage() for r in caplog.records
    )
    assert FakeConsumer.instances[0].commits == [{TP: 4}]


def test_nothing_to_commit_starts_no_client(monkeypatch):
    commits = committer(monkeypatch)
    commits.commit_later({})
    commits.close()
    assert FakeConsumer.instances == []
