"""What every client of the pipeline's topic reads the same way, the producer and the job alike:
where Kafka is, the topic, the log level, and how to authenticate (tickets_kafka.security).

A program's settings extend ClientSettings with fields of their own (tickets_kafka.settings):

    @dataclass(frozen=True, kw_only=True)
    class Settings(ClientSettings):
        ticket_count: int = setting("TICKET_COUNT", Env.whole, 200, help="tickets to send per run")
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from tickets_kafka.security import VARIABLES, KafkaSecurity
from tickets_kafka.settings import Env, part, read_fields, setting

# Kafka's own rule for a topic's name (org.apache.kafka.common.internals.Topic): one topic only.
TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")
TOPIC_IS = "one Kafka topic's name (up to 249 letters, digits, '.', '_' and '-')"


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    bootstrap_servers: str = setting(
        "KAFKA_BOOTSTRAP_SERVERS",
        Env.text,
        "localhost:9092",
        help="the brokers, host:port[,host:port...] (Docker Compose's services use redpanda:9092)",
    )
    topic: str = setting(
        "KAFKA_TOPIC",
        Env.matching,
        "client_tickets",
        pattern=TOPIC,
        what=TOPIC_IS,
        help="the topic the producer writes and the job reads",
    )
    log_level: str = setting("LOG_LEVEL", Env.log_level, "INFO", help="DEBUG, INFO, WARNING or ERROR")
    security: KafkaSecurity = part(KafkaSecurity, VARIABLES)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        """Read and validate every variable at once; ConfigError lists all the problems."""
        env = Env(environ)
        settings = cls(security=KafkaSecurity.from_env(env), **read_fields(cls, env))
        for problem in settings.conflicts():
            env.problem(problem)
        env.check()
        return settings

    @property
    def servers(self) -> list[str]:
        """The "host:port" entries of KAFKA_BOOTSTRAP_SERVERS."""
        return [server.strip() for server in self.bootstrap_servers.split(",") if server.strip()]

    def conflicts(self) -> list[str]:
        """What is wrong with the settings taken together (each variable being right on its own)."""
        return []

    def kafka_python_args(self, client_id: str) -> dict[str, object]:
        """What every kafka-python client (KafkaProducer, KafkaConsumer, KafkaAdminClient) of ours
        is given: where Kafka is, the client's name, and how it logs in."""
        return {
            "bootstrap_servers": self.servers,
            "client_id": client_id,
            **self.security.kafka_python_config(),
        }
