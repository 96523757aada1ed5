"""The producer's settings, read once from the environment (see the variables in tickets_producer.app)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tickets_kafka.client import ClientSettings
from tickets_kafka.settings import Env


@dataclass(frozen=True, kw_only=True)
class Settings(ClientSettings):
    ticket_count: int = 200
    ticket_seed: int = 42
    tickets_per_second: float = 0.0
    ledger_path: Path | None = None

    @classmethod
    def read_own(cls, env: Env) -> dict[str, object]:
        return {
            "ticket_count": env.whole("TICKET_COUNT", cls.ticket_count),
            "ticket_seed": env.whole("TICKET_SEED", cls.ticket_seed),
            "tickets_per_second": env.number("TICKETS_PER_SECOND", cls.tickets_per_second),
            "ledger_path": env.optional_path("PRODUCER_LEDGER"),
        }
