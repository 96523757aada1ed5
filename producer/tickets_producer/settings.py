"""The producer's settings, read once from the environment; `python -m tickets_producer --help` lists them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tickets_kafka.client import ClientSettings
from tickets_kafka.settings import Env, setting

# How long the client retries a ticket before it is reported failed (Kafka's delivery.timeout.ms).
# The client refuses one shorter than its request time-out and batching wait together.
DELIVERY_TIMEOUT_MS = 120_000
REQUEST_TIMEOUT_MS = 30_000  # kafka-python's default, kept
LINGER_MS = 20  # wait up to 20 ms to fill a batch


@dataclass(frozen=True, kw_only=True)
class Settings(ClientSettings):
    ticket_count: int = setting("TICKET_COUNT", Env.whole, 200, help="tickets to send per run (--count)")
    ticket_seed: int = setting(
        "TICKET_SEED", Env.whole, 42, help="the generator's seed: the same seed, the same tickets (--seed)"
    )
    tickets_per_second: float = setting(
        "TICKETS_PER_SECOND",
        Env.number,
        0.0,
        help="a rate limit; 0: as fast as the broker acknowledges (--rate)",
    )
    ledger_path: Path | None = setting(
        "PRODUCER_LEDGER",
        Env.path,
        help='a file for each acknowledged ticket, as a JSON line {"ticket_id", "type"}',
    )
    delivery_timeout_ms: int = setting(
        "PRODUCER_DELIVERY_TIMEOUT_MS",
        Env.whole,
        DELIVERY_TIMEOUT_MS,
        minimum=REQUEST_TIMEOUT_MS + LINGER_MS,
        help=f"how long a ticket is retried until it counts failed (>= {REQUEST_TIMEOUT_MS + LINGER_MS})",
    )
