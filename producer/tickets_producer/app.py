"""Ticket producer: sends TICKET_COUNT synthetic tickets to Kafka and waits for every acknowledgement.

Environment (also read from an optional `.env` in the working directory; flags win over both):
    KAFKA_BOOTSTRAP_SERVERS  broker list, default localhost:9092
    KAFKA_TOPIC              topic, default client_tickets
    TICKET_COUNT             tickets to send, default 200 (--count)
    TICKET_SEED              seed of the generator, default 42: same seed, same tickets (--seed)
    TICKETS_PER_SECOND       rate limit, default 0: as fast as the broker takes them (--rate)
    PRODUCER_LEDGER          optional path: each acknowledged id, as it is acknowledged, as a JSON
                             line {"ticket_id", "type"}
    PRODUCER_DELIVERY_TIMEOUT_MS  how long a ticket is retried before it counts as failed,
                             default 120000 (Kafka's delivery.timeout.ms), at least 30020
    LOG_LEVEL                default INFO
    KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*: TLS and SASL (tickets_kafka.security)

Run:    python -m tickets_producer [--count N] [--seed N] [--rate N]
Prints: one summary line (sent / acknowledged / failed, per type).
Exits:  0 when every ticket was acknowledged (or SIGTERM stopped the sending: what was sent is
        flushed first); 1 when some were not; 2 on bad configuration or flags, an unreachable
        broker, a missing topic, refused credentials or a missing WRITE permission.
Waits:  at most PRODUCER_DELIVERY_TIMEOUT_MS + 10 s (130 s) for the acknowledgements; a ticket not
        acknowledged by then is reported as failed, with the reason (e.g. brokers down: not enough
        in-sync replicas to acknowledge a write), and sending the same seed again is safe.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from dotenv import load_dotenv

from tickets_kafka.settings import ConfigError
from tickets_producer.send import KafkaUnavailableError, failure_cause, refused_write, run
from tickets_producer.settings import Settings
from tickets_producer.summary import ledger_writer

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The flags, each overriding its variable; a bad flag exits 2 with the usage."""
    parser = argparse.ArgumentParser(
        prog="python -m tickets_producer",
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--count", metavar="N", help="tickets to send (TICKET_COUNT)")
    parser.add_argument("--seed", metavar="N", help="seed of the generator (TICKET_SEED)")
    parser.add_argument("--rate", metavar="N", help="tickets per second, 0 for no limit (TICKETS_PER_SECOND)")
    return parser.parse_args(argv)


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The process's environment with the flags given laid over it (validated with the rest)."""
    flags = {"TICKET_COUNT": args.count, "TICKET_SEED": args.seed, "TICKETS_PER_SECOND": args.rate}
    return {**os.environ, **{name: value for name, value in flags.items() if value is not None}}


def without_client_tracebacks(record: logging.LogRecord) -> bool:
    """The Kafka client's own errors in one line each (a lost connection to a broker that went
    down is expected); their stack traces only with LOG_LEVEL=DEBUG."""
    if record.name.startswith("kafka."):
        record.exc_info = None
        record.exc_text = None
    return True


def configure_logging(level: str) -> None:
    logging.getLogger().setLevel(level)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    if level != "DEBUG":
        for handler in logging.getLogger().handlers:
            handler.addFilter(without_client_tracebacks)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_dotenv(".env")  # the working directory's; the environment wins over it
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = Settings.from_env(environment(args))
    except ConfigError as err:
        log.error("%s", err)
        return 2
    configure_logging(settings.log_level)
    log.debug("settings: %r", settings)  # the password as a mask (tickets_kafka.security.Secret)
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
