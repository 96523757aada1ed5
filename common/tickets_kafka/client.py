"""What every client of the pipeline's topic reads the same way, the producer and the job alike:
where Kafka is, the topic, the log level, and how to authenticate (tickets_kafka.security).

A program's settings extend ClientSettings with fields of their own, read by its `read_own`:

    @dataclass(frozen=True, kw_only=True)
    class Settings(ClientSettings):
        ticket_count: int = 200

        @classmethod
        def read_own(cls, env: Env) -> dict[str, object]:
            return {"ticket_count": env.whole("TICKET_COUNT", cls.ticket_count)}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from tickets_kafka.security import KafkaSecurity
from tickets_kafka.settings import Env

BOOTSTRAP_SERVERS = "localhost:9092"
TOPIC = "client_tickets"
LOG_LEVEL = "INFO"


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    bootstrap_servers: str = BOOTSTRAP_SERVERS
    topic: str = TOPIC
    log_level: str = LOG_LEVEL
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        """Read and validate every variable at once; ConfigError lists all the problems."""
        env = Env(environ)
        settings = cls(
            bootstrap_servers=env.text("KAFKA_BOOTSTRAP_SERVERS", BOOTSTRAP_SERVERS),
            topic=env.text("KAFKA_TOPIC", TOPIC),
            log_level=env.log_level(default=LOG_LEVEL),
            security=KafkaSecurity.from_env(env),
            **cls.read_own(env),
        )
        env.check()
        return settings

    @classmethod
    def read_own(cls, env: Env) -> dict[str, object]:
        """The program's own fields from `env` (its problems recorded there)."""
        return {}
