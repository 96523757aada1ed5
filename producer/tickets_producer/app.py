"""Ticket producer: sends TICKET_COUNT synthetic tickets to Kafka and waits for every acknowledgement.

Run:    python -m tickets_producer [--count N] [--seed N] [--rate N] (each flag wins over its variable)
Prints: one summary line (sent / acknowledged / failed, per type).
Waits:  at most PRODUCER_DELIVERY_TIMEOUT_MS + 10 s (130 s) for the acknowledgements; a ticket not
        acknowledged by then is reported as failed, with the reason (e.g. brokers down: not enough
        in-sync replicas to acknowledge a write), and sending the same seed again is safe.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from tickets_kafka import program
from tickets_kafka.settings import ConfigError, variables
from tickets_producer.send import KafkaUnavailableError, failure_cause, refused_write, run
from tickets_producer.settings import Settings
from tickets_producer.summary import ledger_writer

log = logging.getLogger(__name__)

EXIT_CODES = {
    0: "every ticket acknowledged, or SIGTERM stopped the sending (what was sent is flushed first)",
    1: "some tickets not acknowledged; the lines say why",
    2: "refused: bad configuration or flags, an unreachable broker, a missing topic, refused "
    "credentials or no WRITE permission",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The flags, each overriding its variable; a bad flag exits 2 with the usage."""
    parser = program.parser("python -m tickets_producer", __doc__, variables(Settings), EXIT_CODES)
    parser.add_argument("--count", metavar="N", help="tickets to send (TICKET_COUNT)")
    parser.add_argument("--seed", metavar="N", help="seed of the generator (TICKET_SEED)")
    parser.add_argument("--rate", metavar="N", help="tickets per second, 0 for no limit (TICKETS_PER_SECOND)")
    return parser.parse_args(argv)


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment (over ./.env) with the flags given laid over it (validated with the rest)."""
    flags = {"TICKET_COUNT": args.count, "TICKET_SEED": args.seed, "TICKETS_PER_SECOND": args.rate}
    return {
        **program.read_environment(),
        **{name: value for name, value in flags.items() if value is not None},
    }


def without_client_tracebacks(record: logging.LogRecord) -> bool:
    """The Kafka client's own errors in one line each (a lost connection to a broker that went
    down is expected); their stack traces only with LOG_LEVEL=DEBUG."""
    if record.name.startswith("kafka."):
        record.exc_info = None
        record.exc_text = None
    return True


def configure_logging(level: str) -> None:
    program.start_logging(level, quiet={"kafka": max(logging.WARNING, logging.getLevelName(level))})
    if level != "DEBUG":
        for handler in logging.getLogger().handlers:
            handler.addFilter(without_client_tracebacks)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    program.start_logging()
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
