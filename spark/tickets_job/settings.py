"""The job's settings, read once from the environment; `python -m tickets_job --help` lists them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tickets_job.storage import S3Access, is_s3, location
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
    output_dir: Path = setting(
        "OUTPUT_DIR",
        Env.path,
        Path("data/output/client_tickets"),
        help="the folder of part-00000-<uuid>.json",
    )
    quarantine_dir: Path = setting(
        "QUARANTINE_DIR",
        Env.path,
        Path("data/output/quarantine"),
        help="the quarantine's folder: a batch-<id>.jsonl for each micro-batch that rejected messages",
    )
    quarantine_retention_days: int = setting(
        "QUARANTINE_RETENTION_DAYS",
        Env.whole,
        30,
        minimum=1,
        help="quarantine files older than this are deleted",
    )
    # Local paths or s3a://bucket/prefix (tickets_job.storage); the lake is turned off with "off".
    checkpoint_dir: str = setting(
        "CHECKPOINT_DIR",
        location,
        "data/checkpoints/client_tickets",
        help="where a restart resumes (make clean resets it): a folder or s3a://bucket/prefix; one job each",
    )
    lake_uri: str | None = setting(
        "LAKE_URI",
        location,
        "data/lake",
        may_be_off=True,
        help="the Delta tables tickets and ticket_counts: a folder or s3a://bucket/prefix; off: none",
    )
    # S3 (for either location): the region, and an S3-compatible store's endpoint (path-style).
    aws_region: str | None = setting(
        "AWS_REGION", Env.text, help="with an s3a:// location: the bucket's region"
    )
    aws_endpoint: str | None = setting(
        "AWS_ENDPOINT_URL", Env.text, help="an S3-compatible store's endpoint, addressed path-style"
    )
    # The time checks need a horizon well beyond the clock skew they allow (tickets_job.transforms).
    dedup_horizon_minutes: int = setting(
        "DEDUP_HORIZON_MINUTES",
        Env.whole,
        24 * 60,
        minimum=3 * CLOCK_SKEW_MINUTES,
        help="how long (event time) a ticket id is remembered: a copy within it is counted once",
    )
    ivy_dir: Path = setting(
        "IVY_DIR", Env.path, Path("ivy"), help="Spark's dependency cache, and the driver's class archive"
    )
    class_archive: bool = setting(
        "CLASS_ARCHIVE",
        Env.flag,
        True,
        help="the driver maps the classes an earlier run archived (faster starts)",
    )
    max_offsets_per_trigger: int = setting(
        "MAX_OFFSETS_PER_TRIGGER",
        Env.whole,
        200_000,
        minimum=1,
        help="records per micro-batch at most (make run and Docker Compose use 50 unless it is set)",
    )
    # The Kafka client hands over a poll's records decompressed, and a compressed record of a few
    # kilobytes can inflate to megabytes: at most this many are held at once per task (Kafka's
    # default, 500, exhausted a 1 GiB driver with compressed 1 MB messages: docs/PERFORMANCE.md).
    max_poll_records: int = setting(
        "MAX_POLL_RECORDS",
        Env.whole,
        100,
        minimum=1,
        help="records the Kafka client decompresses at once per task (raise it when none inflates to MBs)",
    )
    # The trade-off of latency against an idle job's work is measured in docs/PERFORMANCE.md.
    trigger_interval: str = setting(
        "TRIGGER_INTERVAL",
        Env.matching,
        "200 milliseconds",
        pattern=SPARK_INTERVAL,
        what=SPARK_INTERVAL_IS,
        help="how often a micro-batch starts (a Spark interval)",
    )
    shuffle_partitions: int = setting(
        "SHUFFLE_PARTITIONS", Env.whole, 2, minimum=1, help="partitions of the counting shuffle"
    )
    expected_tickets: int | None = setting(
        "EXPECTED_TICKETS", Env.whole, None, minimum=1, help='log "N/N tickets counted" at each multiple of N'
    )
    progress_file: Path | None = setting(
        "PROGRESS_FILE",
        Env.path,
        help="a file the job's events are appended to as JSON lines (tickets_job.progress)",
    )
    event_log_dir: Path | None = setting(
        "SPARK_EVENT_LOG_DIR", Env.path, help="a folder for Spark's event log (for its history server)"
    )
    bounded: bool = setting(
        "BOUNDED", Env.flag, False, help="true: process what the topic holds, then exit (--bounded)"
    )
    master: str = setting("SPARK_MASTER", Env.text, "local[*]", help="the Spark master's URL")
    properties_file: Path | None = setting(
        "SPARK_PROPERTIES_FILE",
        Env.readable,
        help="Spark properties the driver's JVM reads as it starts: a standalone cluster's secret",
    )
    driver_memory: str = setting(
        "SPARK_DRIVER_MEMORY",
        Env.matching,
        "1g",
        pattern=JVM_MEMORY,
        what=JVM_MEMORY_IS,
        help="the driver's heap",
    )
    ui_port: int = setting(
        "SPARK_UI_PORT",
        Env.port,
        4040,
        help="the Spark UI and its Prometheus metrics (the next free port if taken)",
    )
    # Monitoring and the dead-letter topic; each is turned off with "off".
    group_id: str | None = setting(
        "KAFKA_GROUP_ID",
        Env.name_or_off,
        "client-tickets-spark",
        help="the consumer group each micro-batch's end offsets are committed to, for the lag; off: none",
    )
    dlq_topic: str | None = setting(
        "DLQ_TOPIC",
        Env.name_or_off,
        DLQ_OF_TOPIC,
        help="the dead-letter topic ({topic}: the value of KAFKA_TOPIC); it must exist, compacted; off: none",
    )
    metrics_port: int | None = setting(
        "METRICS_PORT", Env.port_or_off, 9180, help="the job's metrics for Prometheus at /metrics; off: none"
    )
    metrics_bind: str = setting(
        "METRICS_BIND", Env.text, "127.0.0.1", help="the address they are served on (0.0.0.0 in Docker)"
    )
    # The interface the driver listens on (its UI, RPC and block-manager ports): loopback, unless a
    # container publishes them (0.0.0.0) or executors on other machines must reach the driver.
    bind_address: str = setting(
        "SPARK_BIND_ADDRESS",
        Env.text,
        "127.0.0.1",
        help="the interface the driver's UI, RPC and block-manager ports listen on",
    )
    driver_host: str | None = setting(
        "SPARK_DRIVER_HOST",
        Env.text,
        help="the name executors elsewhere reach the driver at (it then listens on every interface)",
    )
    driver_port: int | None = setting(
        "SPARK_DRIVER_PORT", Env.port, help="the driver's RPC port (empty: any)"
    )
    block_manager_port: int | None = setting(
        "SPARK_BLOCK_MANAGER_PORT",
        Env.port,
        help="the driver's and executors' block-manager port (empty: any)",
    )

    def __post_init__(self) -> None:
        if self.dlq_topic is not None:
            object.__setattr__(self, "dlq_topic", self.dlq_topic.replace("{topic}", self.topic))

    @property
    def s3(self) -> S3Access:
        return S3Access(self.aws_region, self.aws_endpoint)

    def uses_s3(self) -> bool:
        return any(is_s3(uri) for uri in (self.checkpoint_dir, self.lake_uri or ""))

    def conflicts(self) -> list[str]:
        if self.dlq_topic == self.topic:
            # Each rejected message would be read again, rejected again and written again, forever.
            return [f"DLQ_TOPIC={self.dlq_topic!r} is KAFKA_TOPIC itself: name another topic, or set off"]
        return []
