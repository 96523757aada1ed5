"""What every client of the pipeline's topic reads the same way, the producer and the job alike:
where Kafka is, the topic, the log level, and how to authenticate (tickets_kafka.security).

A program's settings extend ClientSettings with fields of their own (tickets_kafka.settings):

    @dataclass(frozen=True, kw_only=True)
    class Settings(ClientSettings):
        ticket_count: int = setting("TICKET_COUNT", Env.whole, 200)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from tickets_kafka.security import KafkaSecurity
from tickets_kafka.settings import Env, read_fields, setting


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    bootstrap_servers: str = setting("KAFKA_BOOTSTRAP_SERVERS", Env.text, "localhost:9092")
    topic: str = setting("KAFKA_TOPIC", Env.text, "client_tickets")
    log_level: str = setting("LOG_LEVEL", Env.log_level, "INFO")
    security: KafkaSecurity = field(default_factory=KafkaSecurity)  # KAFKA_SECURITY_PROTOCOL, ...

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        """Read and validate every variable at once; ConfigError lists all the problems."""
        env = Env(environ)
        settings = cls(security=KafkaSecurity.from_env(env), **read_fields(cls, env))
        env.check()
        return settings
