"""How the producer explains tickets that were not acknowledged (producer.failure_cause)."""

from __future__ import annotations

import socket

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
