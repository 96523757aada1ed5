"""What every client of the pipeline's topic reads the same way, the producer and the job alike:
where Kafka is, the topic, the log level, and how to authenticate (tickets_kafka.security).

A program's settings extend ClientSettings with fields of their own (tickets_kafka.settings):

    @dataclass(frozen=True, kw_only=True)
    class Settings(ClientSettings):
        ticket_count: int = setting("TICKET_COUNT", Env.whole, 200)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from tickets_kafka.probe import servers
from tickets_kafka.security import KafkaSecurity
from tickets_kafka.settings import Env, read_fields, setting

# Kafka's own rule for a topic's name (org.apache.kafka.common.internals.Topic): one topic only.
TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")
TOPIC_IS = "one Kafka topic's name (up to 249 letters, digits, '.', '_' and '-')"


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    bootstrap_servers: str = setting("KAFKA_BOOTSTRAP_SERVERS", Env.text, "localhost:9092")
    topic: str = setting("KAFKA_TOPIC", Env.matching, "client_tickets", pattern=TOPIC, what=TOPIC_IS)
    log_level: str = setting("LOG_LEVEL", Env.log_level, "INFO")
    security: KafkaSecurity = field(default_factory=KafkaSecurity)  # KAFKA_SECURITY_PROTOCOL, ...

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        """Read and validate every variable at once; ConfigError lists all the problems."""
        env = Env(environ)
        settings = cls(security=KafkaSecurity.from_env(env), **read_fields(cls, env))
        for problem in settings.conflicts():
            env.problem(problem)
        env.check()
        return settings

    def conflicts(self) -> list[str]:
        """What is wrong with the settings taken together (each variable being right on its own)."""
        return []

    def kafka_python_args(self, client_id: str) -> dict[str, object]:
        """What every kafka-python client (KafkaProducer, KafkaConsumer, KafkaAdminClient) of ours
        is given: where Kafka is, the client's name, and how it logs in."""
        if self.security.mechanism == "AWS_MSK_IAM" and "AWS_REGION" in os.environ:
            # kafka-python's IAM login asks botocore, which reads the region from AWS_DEFAULT_REGION only.
            os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])
        return {
            "bootstrap_servers": servers(self.bootstrap_servers),
            "client_id": client_id,
            **self.security.kafka_python_config(),
        }
