"""Sending the tickets with kafka-python: an idempotent producer (acks=all), one deadline for all
the acknowledgements, and the reason in words when the brokers take no tickets or refuse some."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from tickets_kafka.probe import diagnose, unanswered
from tickets_producer.settings import DELIVERY_TIMEOUT_MS, LINGER_MS, REQUEST_TIMEOUT_MS, Settings
from tickets_producer.summary import Acknowledged, Summary
from tickets_producer.tickets import Ticket, encode_ticket, generate_tickets

log = logging.getLogger(__name__)


class KafkaUnavailableError(RuntimeError):
    """The broker or the topic cannot be reached; the message says what to check."""


class CredentialsRefused(logging.Handler):
    """Catches the broker's refusal of the credentials in the Kafka client's log: the client only
    logs it, and then raises a time-out for the bootstrap as it would with no broker at all."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.refusal: str | None = None  # the broker's words

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "AuthenticationFailed" in message:  # "... [Error 58] SaslAuthenticationFailedError: words"
            self.refusal = re.sub(r" \(backoff [^)]*\)$", "", message.rsplit("Error: ", 1)[-1])


# Waited beyond the delivery time-out: kafka-python does not expire batches it cannot send at all.
ACK_GRACE_SECONDS = 10


def producer_config(delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS) -> dict[str, object]:
    """kafka-python settings: durable (acks=all, idempotent), batching and compression chosen by
    measuring (docs/reports/BENCHMARKS.md): about twice the tickets per second of the defaults."""
    return {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": LINGER_MS,
        "batch_size": 256 * 1024,
        "compression_type": "gzip",  # in the standard library; lz4 and zstd need extra packages
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "delivery_timeout_ms": delivery_timeout_ms,  # idempotence keeps the retries duplicate-free
    }


def connect(settings: Settings) -> KafkaProducer:
    """An idempotent producer (acks=all) that has already seen the topic's partitions."""
    refused = CredentialsRefused()
    logging.getLogger("kafka").addHandler(refused)
    try:
        producer = KafkaProducer(
            bootstrap_timeout_ms=10_000,
            max_block_ms=10_000,  # the longest send() may wait for metadata or buffer space
            **producer_config(settings.delivery_timeout_ms),
            **settings.kafka_python_args("ticket-producer"),
        )
    except KafkaTimeoutError as err:
        raise KafkaUnavailableError(unreachable_cause(settings, refused.refusal)) from err
    finally:
        logging.getLogger("kafka").removeHandler(refused)
    try:
        producer.partitions_for(settings.topic)
    except KafkaTimeoutError as err:
        producer.close(timeout=0)
        raise KafkaUnavailableError(
            f"topic {settings.topic!r} does not exist at {settings.bootstrap_servers}: create it "
            "(make broker-up does, as does the compose topic-init service) or check KAFKA_TOPIC"
        ) from err
    return producer


def send_all(
    producer: KafkaProducer,
    topic: str,
    tickets: Iterable[Ticket],
    summary: Summary,
    *,
    tickets_per_second: float = 0.0,
    stop: threading.Event | None = None,
    ack_timeout: float = DELIVERY_TIMEOUT_MS / 1000 + ACK_GRACE_SECONDS,
) -> Summary:
    """Send each ticket keyed by id, then block until every send is acknowledged or has failed, or
    until `ack_timeout` seconds after the last send (the unanswered ones stay in `unsettled`)."""
    interval = 1.0 / tickets_per_second if tickets_per_second else 0.0
    started = time.monotonic()
    for ticket in tickets:
        if stop is not None and stop.is_set():
            log.warning("stop requested: no more tickets are sent")
            break
        if interval:
            time.sleep(max(0.0, started + summary.sent * interval - time.monotonic()))
        key, value = encode_ticket(ticket)
        try:
            future = producer.send(topic, key=key, value=value)
        except KafkaTimeoutError:  # max_block_ms: no metadata, or the buffer stayed full
            log.error("the brokers take no tickets (the client's buffer stays full): no more are sent")
            break
        summary.expect(ticket.ticket_id)
        future.add_callback(lambda _meta, t=ticket: summary.settle(t.ticket_id, acked=t.type))
        future.add_errback(lambda exc, t=ticket: summary.settle(t.ticket_id, failed=repr(exc)))
    # One deadline for all the answers. Not flush(timeout): kafka-python applies that timeout to each
    # batch in turn, and a batch the client cannot send at all (no leader, or no producer id once the
    # brokers have lost their controller quorum) is never expired by delivery_timeout_ms, so with
    # several such batches flush() waits a multiple of the deadline.
    if not summary.wait_settled(timeout=ack_timeout):
        log.error(
            "%d acknowledgements still missing after %g s; giving up", len(summary.unsettled), ack_timeout
        )
    return summary


def unreachable_cause(settings: Settings, refusal: str | None) -> str:
    """Why the client could not bootstrap: refused credentials, a TLS mismatch, or no broker."""
    servers = settings.bootstrap_servers
    if problem := diagnose(settings.servers, settings.security, refusal):
        return f"cannot connect to Kafka at {servers}: {problem}"
    return (
        f"cannot reach Kafka at {servers}: is the broker running (make broker-up, or the redpanda "
        "service) and is KAFKA_BOOTSTRAP_SERVERS right for where this runs?"
    )


def refused_write(summary: Summary) -> str | None:
    """The brokers' refusal of the writes for want of a permission (an ACL), if they refused."""
    return next(
        (reason for _, reason in summary.failure_examples.values() if "AuthorizationFailed" in reason), None
    )


def failure_cause(settings: Settings, summary: Summary) -> str:
    """Why tickets were not acknowledged, in words an operator can act on."""
    errors = ", ".join(f"{name} x{count}" for name, count in summary.failed.most_common(3)) or "none reported"
    if refused := refused_write(summary):
        return (
            f"{settings.security.describe()} may not write to topic {settings.topic!r} ({refused}): "
            "grant the user WRITE on the topic (an ACL), or use the user that has it"
        )
    down = unanswered(settings.servers)
    servers = len(settings.servers)
    if down:
        return (
            f"{len(down)} of the {servers} brokers in KAFKA_BOOTSTRAP_SERVERS do not answer "
            f"({', '.join(down)}): not enough in-sync replicas to acknowledge a write (acks=all needs "
            f"the topic's min.insync.replicas of them, and a cluster needs most of its controllers); "
            f"start them and send again (ids already acknowledged are counted once). Client errors: {errors}"
        )
    return f"the brokers answer but did not acknowledge; client errors: {errors}"


def run(
    settings: Settings, stop: threading.Event | None = None, on_ack: Acknowledged | None = None
) -> Summary:
    """Generate, send and account for the tickets, handing each acknowledged one to `on_ack`
    (KafkaUnavailableError: no broker or no topic)."""
    producer = connect(settings)
    tickets = generate_tickets(settings.ticket_count, settings.ticket_seed)  # made as they are sent
    summary = Summary(requested=settings.ticket_count, on_ack=on_ack)
    try:
        send_all(
            producer,
            settings.topic,
            tickets,
            summary,
            tickets_per_second=settings.tickets_per_second,
            stop=stop,
            ack_timeout=settings.delivery_timeout_ms / 1000 + ACK_GRACE_SECONDS,
        )
    finally:
        pending = bool(summary.unsettled)
        for ticket_id in list(summary.unsettled):  # given up on at the deadline: failed, whatever comes later
            summary.settle(ticket_id, failed="KafkaTimeoutError('not acknowledged in time')")
        close(producer, pending=pending)
    return summary


def close(producer: KafkaProducer, pending: bool) -> None:
    """Close at once when sends are still pending (they have had their time), else after them."""
    try:
        producer.close(timeout=0 if pending else 10)
    except KafkaTimeoutError:
        # kafka-python 3.0 flushes in close() and raises when a batch cannot complete; its __del__
        # would try again. End the batches (they fail as "closed forcefully") and the network thread.
        producer._sender.force_close()
        producer._closed = True
