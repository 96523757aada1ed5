"""How the producer waits for acknowledgements (send_all) and explains the missing ones (failure_cause)."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from pathlib import Path

from tickets_kafka.probe import unanswered
from tickets_local.process import free_port
from tickets_producer.send import failure_cause, refused_write, send_all
from tickets_producer.settings import Settings
from tickets_producer.summary import Summary, ledger_writer
from tickets_producer.tickets import generate_tickets


def test_brokers_that_do_not_answer_are_named_as_the_cause():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        up = f"127.0.0.1:{listening.getsockname()[1]}"
        down = f"127.0.0.1:{free_port()}"
        settings = Settings(bootstrap_servers=f"{up},{down}")
        summary = Summary(requested=3)
        summary.expect("t1")
        summary.settle("t1", failed="KafkaTimeoutError('expired')")
        assert unanswered(settings.servers) == [down]
        cause = failure_cause(settings, summary)
    assert cause.startswith(f"1 of the 2 brokers in KAFKA_BOOTSTRAP_SERVERS do not answer ({down})")
    assert "not enough in-sync replicas" in cause
    assert cause.endswith("Client errors: KafkaTimeoutError x1")


def test_with_every_broker_answering_the_client_errors_are_the_cause():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        settings = Settings(bootstrap_servers=f"127.0.0.1:{listening.getsockname()[1]}")
        summary = Summary(requested=2)
        for ticket_id in ("a", "b"):
            summary.expect(ticket_id)
            summary.settle(ticket_id, failed="NotEnoughReplicasError(19)")
        cause = failure_cause(settings, summary)
    assert cause == "the brokers answer but did not acknowledge; client errors: NotEnoughReplicasError x2"


def test_a_refused_write_is_named_as_the_cause_whatever_exception_carries_it():
    summary = Summary(requested=2)
    summary.expect("a")
    summary.expect("b")
    refusal = (
        "KafkaError('Unexpected error in InitProducerIdResponse: [Error 31] ClusterAuthorizationFailedError')"
    )
    for ticket_id in ("a", "b"):
        summary.settle(ticket_id, failed=refusal)
    settings = Settings(topic="tickets")
    assert summary.failed == {"ClusterAuthorizationFailedError": 2}
    assert refused_write(summary) == refusal
    assert failure_cause(settings, summary).startswith("PLAINTEXT may not write to topic 'tickets'")


def test_an_answer_after_the_ticket_was_given_up_on_is_not_counted_again():
    summary = Summary(requested=1)
    summary.expect("a")
    summary.settle("a", failed="KafkaTimeoutError('not acknowledged in time')")
    summary.settle("a", acked="BILLING")  # the client's late answer, as it closes
    summary.settle("a", failed="KafkaError('closed forcefully')")
    assert (summary.sent, summary.acked, summary.failed) == (1, 0, {"KafkaTimeoutError": 1})


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
    summary = Summary(requested=5)
    started = time.monotonic()
    send_all(SlowClient(), "t", generate_tickets(5, seed=1), summary, ack_timeout=1.0)
    waited = time.monotonic() - started
    assert 1.0 <= waited < 1.5
    assert summary.sent == 5
    assert summary.acked == 1
    assert len(summary.unsettled) == 4


def test_the_wait_ends_as_soon_as_every_send_is_answered():
    summary = Summary(requested=1)
    started = time.monotonic()
    send_all(SlowClient(), "t", generate_tickets(1, seed=1), summary, ack_timeout=30.0)
    assert time.monotonic() - started < 1.0
    assert summary.unsettled == set()
    assert summary.acked == 1


class Answered:
    """A send the broker acknowledges at once."""

    def add_callback(self, answer) -> None:
        answer(None)

    def add_errback(self, _answer) -> None:
        pass


class InstantClient:
    def send(self, _topic, key, value) -> Answered:
        return Answered()


def peak_memory_of_a_run(count: int, ledger: Path) -> int:
    """Peak bytes allocated by Python while generating, sending and accounting for `count` tickets,
    the ledger streamed to a file as the program does."""
    tracemalloc.start()
    try:
        with ledger_writer(ledger) as on_ack:
            summary = Summary(requested=count, on_ack=on_ack)
            send_all(InstantClient(), "t", generate_tickets(count, seed=7), summary)
        assert summary.acked == count and sum(summary.per_type.values()) == count
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_ticket_count(tmp_path):
    small = peak_memory_of_a_run(1_000, tmp_path / "small.jsonl")
    large = peak_memory_of_a_run(10_000, tmp_path / "large.jsonl")
    assert len((tmp_path / "large.jsonl").read_text().splitlines()) == 10_000, "every ack is in the ledger"
    # Holding each acknowledged id (about 150 bytes each) would add about 1.3 MB for the 9,000 more.
    assert large < small + 500_000, f"peak {small:,} B for 1,000 tickets, {large:,} B for 10,000"
