"""Ticket producer: sends TICKET_COUNT synthetic tickets to Kafka and waits for every acknowledgement.

Environment (also read from an optional `.env` in the working directory):
    KAFKA_BOOTSTRAP_SERVERS  broker list, default localhost:9092
    KAFKA_TOPIC              topic, default client_tickets
    TICKET_COUNT             tickets to send, default 200
    TICKET_SEED              seed of the generator, default 42 (same seed, same tickets)
    TICKETS_PER_SECOND       rate limit, default 0 (as fast as the broker takes them)
    PRODUCER_LEDGER          optional path: each acknowledged id, as it is acknowledged, as a JSON line
                             {"ticket_id", "type"}
    LOG_LEVEL                default INFO
    KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*: TLS and SASL, as common/kafka_security.py says

Run:    python producer/producer.py
Prints: one summary line (sent / acknowledged / failed, per type); exits 1 if any send failed,
        2 on bad configuration, an unreachable broker, refused credentials or a missing WRITE
        permission. SIGTERM stops sending, flushes, and exits 0.
Waits:  at most 130 s (DELIVERY_TIMEOUT_MS + ACK_GRACE_SECONDS) for the acknowledgements; a ticket not
        acknowledged by then is reported as failed, with the reason (e.g. brokers down: not enough
        in-sync replicas to acknowledge a write), and sending the same seed again is safe.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from tickets import Ticket, encode_ticket, generate_tickets

sys.path.append(str(Path(__file__).resolve().parent.parent / "common"))  # in the image: beside this file
from kafka_security import KafkaSecurity, diagnose, dial

log = logging.getLogger("producer")


class ConfigError(ValueError):
    """The environment does not describe a runnable producer; the message says what to fix."""


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "localhost:9092"
    topic: str = "client_tickets"
    ticket_count: int = 200
    ticket_seed: int = 42
    tickets_per_second: float = 0.0
    ledger_path: Path | None = None
    log_level: str = "INFO"
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every variable at once, reporting all problems together."""
        problems: list[str] = []

        def number(name: str, default: float, kind: type[int] | type[float], minimum: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not {'an integer' if kind is int else 'a number'}")
                return default
            if value < minimum:
                problems.append(f"{name}={raw!r} must be >= {minimum}")
            return value

        settings = cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() or cls.bootstrap_servers,
            topic=env.get("KAFKA_TOPIC", "").strip() or cls.topic,
            ticket_count=int(number("TICKET_COUNT", cls.ticket_count, int, 0)),
            ticket_seed=int(number("TICKET_SEED", cls.ticket_seed, int, 0)),
            tickets_per_second=number("TICKETS_PER_SECOND", cls.tickets_per_second, float, 0),
            ledger_path=Path(env["PRODUCER_LEDGER"]) if env.get("PRODUCER_LEDGER") else None,
            log_level=env.get("LOG_LEVEL", "").strip().upper() or cls.log_level,
            security=KafkaSecurity.from_env(env, problems),
        )
        if not isinstance(logging.getLevelName(settings.log_level), int):
            problems.append(f"LOG_LEVEL={settings.log_level!r} is not a logging level")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return settings


def error_name(reason: str) -> str:
    """The Kafka error a client's exception names ("[Error 31] ClusterAuthorizationFailedError"),
    else the exception's class."""
    if match := re.search(r"\[Error \d+\] (\w+)", reason):
        return match.group(1)
    return reason.split("(", 1)[0]


Acknowledged = Callable[[str, str], None]  # (ticket id, type), called as each acknowledgement arrives


@dataclass
class Summary:
    """What happened to the tickets handed to the client, as counts: its memory stays the same
    whatever TICKET_COUNT. Only the tickets still in flight are held (as many as the client's
    buffer takes); each acknowledged ticket goes to `on_ack` (the ledger) as its answer arrives."""

    requested: int
    sent: int = 0
    acked: int = 0
    per_type: Counter[str] = field(default_factory=Counter)  # acknowledged, by ticket type
    failed: Counter[str] = field(default_factory=Counter)  # not acknowledged, by error name
    failure_examples: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (id, reason)
    unsettled: set[str] = field(default_factory=set)  # sent, neither acknowledged nor failed yet
    on_ack: Acknowledged | None = field(default=None, repr=False, compare=False)
    _answered: threading.Condition = field(default_factory=threading.Condition, repr=False, compare=False)

    def expect(self, ticket_id: str) -> None:
        """A ticket handed to the client, before its answer can arrive."""
        with self._answered:
            self.unsettled.add(ticket_id)
            self.sent += 1

    def settle(self, ticket_id: str, acked: str | None = None, failed: str | None = None) -> None:
        """Record the client's answer for one ticket (from its network thread). The first answer
        counts: one that comes after the ticket was given up on (failed) is ignored."""
        with self._answered:
            if ticket_id not in self.unsettled:
                return
            if acked is not None:
                self.acked += 1
                self.per_type[acked] += 1
                if self.on_ack is not None:
                    self.on_ack(ticket_id, acked)
            else:
                reason = failed or "failed"
                name = error_name(reason)
                self.failed[name] += 1
                self.failure_examples.setdefault(name, (ticket_id, reason))
            self.unsettled.discard(ticket_id)
            if not self.unsettled:
                self._answered.notify_all()

    def wait_settled(self, timeout: float) -> bool:
        """Block until every ticket sent has its answer, or `timeout` seconds in all have passed."""
        with self._answered:
            return self._answered.wait_for(lambda: not self.unsettled, timeout=timeout)

    def line(self) -> str:
        types = ", ".join(f"{name}={self.per_type[name]}" for name in sorted(self.per_type))
        return (
            f"sent {self.sent}/{self.requested}, acknowledged {self.acked}, "
            f"failed {self.failed.total()} ({types or 'none acknowledged'})"
        )


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


DELIVERY_TIMEOUT_MS = 120_000  # the client retries a batch until then
ACK_GRACE_SECONDS = 10  # beyond it: kafka-python does not expire batches it cannot send at all


def producer_config() -> dict[str, object]:
    """kafka-python settings: durable (acks=all, idempotent), batching and compression chosen by
    measuring (docs/BENCHMARKS.md): about twice the tickets per second of the defaults."""
    return {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 20,  # wait up to 20 ms to fill a batch
        "batch_size": 256 * 1024,
        "compression_type": "gzip",  # in the standard library; lz4 and zstd need extra packages
        "delivery_timeout_ms": DELIVERY_TIMEOUT_MS,  # idempotence keeps the retries duplicate-free
    }


def connect(settings: Settings) -> KafkaProducer:
    """An idempotent producer (acks=all) that has already seen the topic's partitions."""
    if settings.security.mechanism == "AWS_MSK_IAM" and "AWS_REGION" in os.environ:
        # kafka-python's IAM login asks botocore, which reads the region from AWS_DEFAULT_REGION only.
        os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])
    refused = CredentialsRefused()
    logging.getLogger("kafka").addHandler(refused)
    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers.split(","),
            client_id="ticket-producer",
            bootstrap_timeout_ms=10_000,
            max_block_ms=10_000,  # the longest send() may wait for metadata or buffer space
            **producer_config(),
            **settings.security.kafka_python_config(),
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
    # several such batches flush() waited 264 s instead of 130.
    if not summary.wait_settled(timeout=ack_timeout):
        log.error(
            "%d acknowledgements still missing after %g s; giving up", len(summary.unsettled), ack_timeout
        )
    return summary


def unreachable_cause(settings: Settings, refusal: str | None) -> str:
    """Why the client could not bootstrap: refused credentials, a TLS mismatch, or no broker."""
    servers = settings.bootstrap_servers
    if problem := diagnose(servers, settings.security, refusal):
        return f"cannot connect to Kafka at {servers}: {problem}"
    return (
        f"cannot reach Kafka at {servers}: is the broker running (make broker-up, or the redpanda "
        "service) and is KAFKA_BOOTSTRAP_SERVERS right for where this runs?"
    )


def unanswered(bootstrap_servers: str) -> list[str]:
    """The brokers of the list that do not accept a connection."""
    down = []
    for address in bootstrap_servers.split(","):
        try:
            dial(address, timeout=3).close()
        except (OSError, ValueError):
            down.append(address.strip())
    return down


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
    down = unanswered(settings.bootstrap_servers)
    servers = len(settings.bootstrap_servers.split(","))
    if down:
        return (
            f"{len(down)} of the {servers} brokers in KAFKA_BOOTSTRAP_SERVERS do not answer "
            f"({', '.join(down)}): not enough in-sync replicas to acknowledge a write (acks=all needs "
            f"the topic's min.insync.replicas of them, and a cluster needs most of its controllers); "
            f"start them and send again (ids already acknowledged are counted once). Client errors: {errors}"
        )
    return f"the brokers answer but did not acknowledge; client errors: {errors}"


@contextmanager
def ledger_writer(path: Path | None) -> Iterator[Acknowledged | None]:
    """Writes each acknowledged ticket to `path` as a JSON line as its acknowledgement arrives
    (None: no ledger). What a killed producer leaves is the ledger of what was acknowledged so far."""
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        yield lambda ticket_id, ticket_type: out.write(
            json.dumps({"ticket_id": ticket_id, "type": ticket_type}) + "\n"
        )


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


def without_client_tracebacks(record: logging.LogRecord) -> bool:
    """The Kafka client's own errors in one line each (a lost connection to a broker that went
    down is expected); their stack traces only with LOG_LEVEL=DEBUG."""
    if record.name.startswith("kafka."):
        record.exc_info = None
        record.exc_text = None
    return True


def main() -> int:
    load_dotenv(".env")  # the working directory's; the environment wins over it
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as err:
        log.error("%s", err)
        return 2
    logging.getLogger().setLevel(settings.log_level)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    if settings.log_level != "DEBUG":
        for handler in logging.getLogger().handlers:
            handler.addFilter(without_client_tracebacks)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info(
        "sending %d tickets (seed %d) to topic %r at %s",
        settings.ticket_count,
        settings.ticket_seed,
        settings.topic,
        settings.bootstrap_servers,
    )
    try:
        with ledger_writer(settings.ledger_path) as on_ack:
            summary = run(settings, stop, on_ack)
    except KafkaUnavailableError as err:
        log.error("%s", err)
        return 2

    for name, (ticket_id, reason) in summary.failure_examples.items():
        log.error(
            "%d tickets not acknowledged with %s, e.g. ticket %s: %s",
            summary.failed[name],
            name,
            ticket_id,
            reason,
        )
    log.info("%s", summary.line())
    if summary.acked < summary.sent:
        log.error(
            "%d tickets not acknowledged: %s", summary.sent - summary.acked, failure_cause(settings, summary)
        )
        return 2 if refused_write(summary) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
