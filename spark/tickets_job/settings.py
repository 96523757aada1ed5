"""The job's settings, read once from the environment (see the variables in tickets_job.app)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tickets_job.transforms import CLOCK_SKEW_MINUTES
from tickets_kafka.client import ClientSettings
from tickets_kafka.settings import Env, setting

# DLQ_TOPIC's default: the topic's name followed by .dlq (client_tickets.dlq).
DLQ_OF_TOPIC = "{topic}.dlq"

# What Spark takes, checked before Spark starts (a unit test holds them to Spark's own parsers):
# a trigger interval (Trigger.ProcessingTime: whole units, a fraction of seconds only, no months)...
_UNIT = r"([0-9]+\s+(weeks?|days?|hours?|minutes?|milliseconds?|microseconds?)|[0-9]+(\.[0-9]+)?\s+seconds?)"
SPARK_INTERVAL = re.compile(rf"(?i)(interval\s+)?{_UNIT}(\s+{_UNIT})*")
SPARK_INTERVAL_IS = "a Spark interval such as '200 milliseconds', '1 second' or '1 minute 30 seconds'"
# ... and a JVM's memory size (spark.driver.memory: MiB without a unit).
JVM_MEMORY = re.compile(r"(?i)[1-9][0-9]*(b|kb?|mb?|gb?|tb?|pb?)?")
JVM_MEMORY_IS = "a memory size such as '1g' or '512m'"


@dataclass(frozen=True, kw_only=True)
class Settings(ClientSettings):
    output_dir: Path = setting("OUTPUT_DIR", Env.path, Path("data/output/client_tickets"))
    quarantine_dir: Path = setting("QUARANTINE_DIR", Env.path, Path("data/output/quarantine"))
    quarantine_retention_days: int = setting("QUARANTINE_RETENTION_DAYS", Env.whole, 30, minimum=1)
    checkpoint_dir: Path = setting("CHECKPOINT_DIR", Env.path, Path("data/checkpoints/client_tickets"))
    # The time checks need a horizon well beyond the clock skew they allow (tickets_job.transforms).
    dedup_horizon_minutes: int = setting(
        "DEDUP_HORIZON_MINUTES", Env.whole, 24 * 60, minimum=3 * CLOCK_SKEW_MINUTES
    )
    ivy_dir: Path = setting("IVY_DIR", Env.path, Path("ivy"))
    class_archive: bool = setting("CLASS_ARCHIVE", Env.flag, True)
    max_offsets_per_trigger: int = setting("MAX_OFFSETS_PER_TRIGGER", Env.whole, 200_000, minimum=1)
    # The Kafka client hands over a poll's records decompressed, and a compressed record of a few
    # kilobytes can inflate to megabytes: at most this many are held at once per task (Kafka's
    # default, 500, let 1,200 compressed 1 MB messages exhaust a 1 GiB driver; 100 costs a backlog
    # some throughput: docs/PERFORMANCE.md).
    max_poll_records: int = setting("MAX_POLL_RECORDS", Env.whole, 100, minimum=1)
    # Measured at 1,000 tickets/s (docs/PERFORMANCE.md): a ticket waits for the next trigger as well as
    # for its batch; an idle job checks Kafka at each trigger (6.5 % of a core here, 1.9 % at 1 s).
    trigger_interval: str = setting(
        "TRIGGER_INTERVAL", Env.matching, "200 milliseconds", pattern=SPARK_INTERVAL, what=SPARK_INTERVAL_IS
    )
    shuffle_partitions: int = setting("SHUFFLE_PARTITIONS", Env.whole, 2, minimum=1)
    expected_tickets: int | None = setting("EXPECTED_TICKETS", Env.whole, None, minimum=1)
    progress_file: Path | None = setting("PROGRESS_FILE", Env.path)
    event_log_dir: Path | None = setting("SPARK_EVENT_LOG_DIR", Env.path)
    bounded: bool = setting("BOUNDED", Env.flag, False)
    master: str = setting("SPARK_MASTER", Env.text, "local[*]")
    # Spark properties read when the driver's JVM starts: a standalone cluster's secret (local/spark/auth.sh).
    properties_file: Path | None = setting("SPARK_PROPERTIES_FILE", Env.readable)
    driver_memory: str = setting(
        "SPARK_DRIVER_MEMORY", Env.matching, "1g", pattern=JVM_MEMORY, what=JVM_MEMORY_IS
    )
    ui_port: int = setting("SPARK_UI_PORT", Env.port, 4040)
    # Monitoring and the dead-letter topic; each is turned off with "off".
    group_id: str | None = setting("KAFKA_GROUP_ID", Env.name_or_off, "client-tickets-spark")
    dlq_topic: str | None = setting("DLQ_TOPIC", Env.name_or_off, DLQ_OF_TOPIC)
    metrics_port: int | None = setting("METRICS_PORT", Env.port_or_off, 9180)
    metrics_bind: str = setting("METRICS_BIND", Env.text, "127.0.0.1")
    # The interface the driver listens on (its UI, RPC and block-manager ports): loopback, unless a
    # container publishes them (0.0.0.0) or executors on other machines must reach the driver.
    bind_address: str = setting("SPARK_BIND_ADDRESS", Env.text, "127.0.0.1")
    driver_host: str | None = setting("SPARK_DRIVER_HOST", Env.text)
    driver_port: int | None = setting("SPARK_DRIVER_PORT", Env.port)
    block_manager_port: int | None = setting("SPARK_BLOCK_MANAGER_PORT", Env.port)

    def __post_init__(self) -> None:
        if self.dlq_topic is not None:
            object.__setattr__(self, "dlq_topic", self.dlq_topic.replace("{topic}", self.topic))

    def conflicts(self) -> list[str]:
        if self.dlq_topic == self.topic:
            # Each rejected message would be read again, rejected again and written again, forever.
            return [f"DLQ_TOPIC={self.dlq_topic!r} is KAFKA_TOPIC itself: name another topic, or set off"]
        return []
