"""The producer's settings, read once from the environment (see the variables in tickets_producer.app)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tickets_kafka.client import ClientSettings
from tickets_kafka.settings import Env, setting


@dataclass(frozen=True, kw_only=True)
class Settings(ClientSettings):
    ticket_count: int = setting("TICKET_COUNT", Env.whole, 200)
    ticket_seed: int = setting("TICKET_SEED", Env.whole, 42)
    tickets_per_second: float = setting("TICKETS_PER_SECOND", Env.number, 0.0)  # 0: no limit
    ledger_path: Path | None = setting("PRODUCER_LEDGER", Env.path)
