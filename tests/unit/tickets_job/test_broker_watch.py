"""tickets_job.broker_watch: one calm line while Kafka is unreachable, one when it is back."""

from __future__ import annotations

import logging
import threading

from tickets_job import broker_watch
from tickets_job.broker_watch import BrokerWatch


def watched(monkeypatch, outcomes: list[str | None], caplog) -> list[bool]:
    """Run a watch over the scripted probe outcomes (None: reachable); returns what on_probe heard."""
    script = iter(outcomes)
    stop = threading.Event()

    def unreachable(servers):
        assert servers == ["a:9092", "b:9092"]
        problem = next(script, "end")
        if problem == "end":
            stop.set()
            return None
        return problem

    monkeypatch.setattr(broker_watch, "unreachable", unreachable)
    heard: list[bool] = []
    caplog.set_level(logging.INFO, logger="tickets_job.broker_watch")
    watch = BrokerWatch(
        ["a:9092", "b:9092"], stop, probe_every=0.001, repeat_every=0.0035, on_probe=heard.append
    )
    watch.start()
    watch.join(timeout=10)
    assert not watch.is_alive()
    return heard


def test_a_down_broker_is_said_at_a_calm_interval_and_its_return_once(monkeypatch, caplog):
    heard = watched(monkeypatch, ["refused"] * 8 + [None, None], caplog)
    messages = [record.getMessage() for record in caplog.records]
    waiting = [
        m for m in messages if m.startswith("waiting for Kafka at a:9092,b:9092: not reachable (refused)")
    ]
    assert len(waiting) == 2  # 8 probes, 1 ms of the watch's clock apart: a line at the 1st and 5th
    assert messages.count("Kafka at a:9092,b:9092 is reachable now") == 1
    assert heard[:10] == [False] * 8 + [True, True]


def test_a_reachable_broker_is_not_mentioned(monkeypatch, caplog):
    heard = watched(monkeypatch, [None, None, None], caplog)
    assert caplog.records == []
    assert heard[:3] == [True, True, True]
