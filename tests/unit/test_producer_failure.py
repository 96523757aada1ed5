"""How the producer waits for acknowledgements (send_all) and explains the missing ones (failure_cause)."""

from __future__ import annotations

import socket
import threading
import time

import producer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_brokers_that_do_not_answer_are_named_as_the_cause():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        up = f"127.0.0.1:{listening.getsockname()[1]}"
        down = f"127.0.0.1:{free_port()}"
        settings = producer.Settings(bootstrap_servers=f"{up},{down}")
        summary = producer.Summary(requested=3, sent=3, failed={"t1": "KafkaTimeoutError('expired')"})
        assert producer.unanswered(settings.bootstrap_servers) == [down]
        cause = producer.failure_cause(settings, summary)
    assert cause.startswith(f"1 of the 2 brokers in KAFKA_BOOTSTRAP_SERVERS do not answer ({down})")
    assert "not enough in-sync replicas" in cause
    assert cause.endswith("Client errors: KafkaTimeoutError x1")


def test_with_every_broker_answering_the_client_errors_are_the_cause():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        settings = producer.Settings(bootstrap_servers=f"127.0.0.1:{listening.getsockname()[1]}")
        failed = {"a": "NotEnoughReplicasError(19)", "b": "NotEnoughReplicasError(19)"}
        cause = producer.failure_cause(settings, producer.Summary(requested=2, sent=2, failed=failed))
    assert cause == "the brokers answer but did not acknowledge; client errors: NotEnoughReplicasError x2"


class Unanswered:
    """A send whose answer comes after `delay` seconds, or never (None)."""

    def __init__(self, delay: float | None) -> None:
        self.delay = delay

    def add_callback(self, answer) -> None:
        if self.delay is not None:
            threading.Timer(self.delay, answer, args=(None,)).start()

    def add_errback(self, _answer) -> None:
        pass


class SlowClient:
    """A client whose first send is answered late and whose later sends are never answered, like
    batches for partitions without a leader (kafka-python's flush() waited for each in turn)."""

    def __init__(self) -> None:
        self.sends = 0

    def send(self, _topic, key, value) -> Unanswered:
        self.sends += 1
        return Unanswered(0.3 if self.sends == 1 else None)


def test_the_wait_for_acknowledgements_has_one_deadline_for_all_sends():
    summary = producer.Summary(requested=5)
    started = time.monotonic()
    producer.send_all(SlowClient(), "t", producer.generate_tickets(5, seed=1), summary, ack_timeout=1.0)
    waited = time.monotonic() - started
    assert 1.0 <= waited < 1.5
    assert summary.sent == 5
    assert len(summary.acked) == 1
    assert len(summary.unsettled) == 4


def test_the_wait_ends_as_soon_as_every_send_is_answered():
    summary = producer.Summary(requested=1)
    started = time.monotonic()
    producer.send_all(SlowClient(), "t", producer.generate_tickets(1, seed=1), summary, ack_timeout=30.0)
    assert time.monotonic() - started < 1.0
    assert summary.unsettled == set()
    assert len(summary.acked) == 1
