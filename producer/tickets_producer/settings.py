"""The producer's settings, read once from the environment (see the variables in tickets_producer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tickets_kafka.security import KafkaSecurity
from tickets_kafka.settings import Env


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
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate every variable at once; ConfigError lists all the problems."""
        env = Env(environ)
        settings = cls(
            bootstrap_servers=env.text("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            topic=env.text("KAFKA_TOPIC", cls.topic),
            ticket_count=env.whole("TICKET_COUNT", cls.ticket_count),
            ticket_seed=env.whole("TICKET_SEED", cls.ticket_seed),
            tickets_per_second=env.number("TICKETS_PER_SECOND", cls.tickets_per_second),
            ledger_path=env.optional_path("PRODUCER_LEDGER"),
            log_level=env.log_level(),
            security=KafkaSecurity.from_env(env),
        )
        env.check()
        return settings
