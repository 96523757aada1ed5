"""Streaming job: counts customer tickets by type from Kafka and exports the counts as JSON lines.

Reads KAFKA_TOPIC through Spark's Kafka source (spark-sql-kafka-0-10, fetched into IVY_DIR at the
installed pyspark version), parses each message with an explicit schema, adds `support_team`,
counts tickets by type (complete mode) and, after every micro-batch, replaces
OUTPUT_DIR/part-00000-<uuid>.json with the complete result:

    {"type":"ACCOUNT","ticket_count":52}

Environment (also read from an optional `.env` in the working directory):
    KAFKA_BOOTSTRAP_SERVERS   default localhost:9092
    KAFKA_TOPIC               default client_tickets
    OUTPUT_DIR                default data/output/client_tickets
    CHECKPOINT_DIR            default data/checkpoints/client_tickets (resume point; delete to recount)
    IVY_DIR                   default ivy (Spark's dependency cache)
    MAX_OFFSETS_PER_TRIGGER   default 50 (records per micro-batch)
    TRIGGER_INTERVAL          default "1 second"
    SHUFFLE_PARTITIONS        default 2
    EXPECTED_TICKETS          optional: log "N/N tickets counted" once that many are counted
    BOUNDED                   default false; true = process what the topic holds, then exit
    SPARK_MASTER              default local[*]
    SPARK_DRIVER_MEMORY       default 1g
    LOG_LEVEL                 default INFO

Run:    python spark/spark_streaming.py [--bounded]
Logs:   one line per micro-batch on stderr: batch id, rows in, rows/s, tickets counted so far.
Stops:  on SIGTERM or Ctrl-C, after the running micro-batch, keeping the checkpoint consistent.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyspark
from dotenv import load_dotenv
from export import export_counts
from progress import ProgressLog
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from transforms import count_by_type, enrich, parse_tickets, valid_tickets

log = logging.getLogger("spark_streaming")

QUERY_NAME = "client_ticket_counts"
SCALA_VERSION = "2.13"
KAFKA_CONNECTOR = f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_VERSION}:{pyspark.__version__}"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """The environment does not describe a runnable job; the message says what to fix."""


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "localhost:9092"
    topic: str = "client_tickets"
    output_dir: Path = Path("data/output/client_tickets")
    checkpoint_dir: Path = Path("data/checkpoints/client_tickets")
    ivy_dir: Path = Path("ivy")
    max_offsets_per_trigger: int = 50
    trigger_interval: str = "1 second"
    shuffle_partitions: int = 2
    expected_tickets: int | None = None
    bounded: bool = False
    master: str = "local[*]"
    driver_memory: str = "1g"
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every variable at once, reporting all problems together."""
        problems: list[str] = []

        def text(name: str, default: str) -> str:
            return env.get(name, "").strip() or default

        def positive(name: str, default: int | None) -> int | None:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or int(raw) == 0:
                problems.append(f"{name}={raw!r} must be a whole number above 0")
                return default
            return int(raw)

        bounded = text("BOUNDED", "false").lower()
        if bounded not in TRUE_WORDS | FALSE_WORDS:
            problems.append(f"BOUNDED={bounded!r} must be true or false")
        settings = cls(
            bootstrap_servers=text("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            topic=text("KAFKA_TOPIC", cls.topic),
            output_dir=Path(text("OUTPUT_DIR", str(cls.output_dir))),
            checkpoint_dir=Path(text("CHECKPOINT_DIR", str(cls.checkpoint_dir))),
            ivy_dir=Path(text("IVY_DIR", str(cls.ivy_dir))),
            max_offsets_per_trigger=positive("MAX_OFFSETS_PER_TRIGGER", cls.max_offsets_per_trigger),
            trigger_interval=text("TRIGGER_INTERVAL", cls.trigger_interval),
            shuffle_partitions=positive("SHUFFLE_PARTITIONS", cls.shuffle_partitions),
            expected_tickets=positive("EXPECTED_TICKETS", None),
            bounded=bounded in TRUE_WORDS,
            master=text("SPARK_MASTER", cls.master),
            driver_memory=text("SPARK_DRIVER_MEMORY", cls.driver_memory),
            log_level=text("LOG_LEVEL", cls.log_level).upper(),
        )
        if not isinstance(logging.getLevelName(settings.log_level), int):
            problems.append(f"LOG_LEVEL={settings.log_level!r} is not a logging level")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return settings


def create_session(settings: Settings) -> SparkSession:
    """A session whose Kafka connector comes from Ivy, matching the installed pyspark exactly."""
    session = (
        SparkSession.builder.appName("client-tickets")
        .master(settings.master)
        .config("spark.jars.packages", KAFKA_CONNECTOR)
        .config("spark.jars.ivy", str(settings.ivy_dir.resolve()))
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    return session


def read_kafka(spark: SparkSession, settings: Settings) -> DataFrame:
    """The topic from its first offset, at most MAX_OFFSETS_PER_TRIGGER records per micro-batch."""
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap_servers)
        .option("subscribe", settings.topic)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
        .load()
    )
    # (key, value, topic, partition, offset, timestamp, timestampType)


def with_input_metrics(parsed: DataFrame) -> DataFrame:
    """Report rows read and rows rejected per micro-batch in the query's progress."""
    return parsed.observe(
        "input",
        F.count(F.lit(1)).alias("rows"),
        F.count(F.col("reject_reason")).alias("rejected"),
    )


class CountsSink:
    """foreachBatch sink: export each micro-batch's complete counts and remember their total."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.totals: dict[int, int] = {}

    def __call__(self, counts: DataFrame, batch_id: int) -> None:
        rows = [(row["type"], row["ticket_count"]) for row in counts.collect()]
        export_counts(self.output_dir, rows)
        self.totals[batch_id] = sum(count for _, count in rows)


def start_query(spark: SparkSession, settings: Settings, sink: CountsSink) -> StreamingQuery:
    tickets = valid_tickets(with_input_metrics(parse_tickets(read_kafka(spark, settings))))
    counts = count_by_type(enrich(tickets))  # (type, ticket_count)
    writer = (
        counts.writeStream.queryName(QUERY_NAME)
        .outputMode("complete")
        .foreachBatch(sink)
        .option("checkpointLocation", str(settings.checkpoint_dir.resolve()))
    )
    if settings.bounded:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=settings.trigger_interval)
    return writer.start()


def run_until_stopped(query: StreamingQuery, stop: threading.Event) -> None:
    """Wait for the query to end by itself (bounded mode, failure) or for a stop request."""
    while query.isActive and not stop.is_set():
        query.awaitTermination(timeout=1)
    if stop.is_set() and query.isActive:
        log.info("stop requested: finishing the current micro-batch")
        query.stop()
    query.awaitTermination()  # raises StreamingQueryException if the query failed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bounded", action="store_true", help="process what the topic holds, then exit (BOUNDED=true)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_dotenv(".env")  # the working directory's; the environment wins over it
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as err:
        log.error("%s", err)
        return 2
    if args.bounded:
        settings = dataclasses.replace(settings, bounded=True)
    logging.getLogger().setLevel(settings.log_level)
    logging.getLogger("py4j").setLevel(logging.WARNING)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    spark = create_session(settings)
    sink = CountsSink(settings.output_dir)
    spark.streams.addListener(ProgressLog(sink.totals, settings.expected_tickets))
    query = start_query(spark, settings, sink)
    log.info(
        "reading %r at %s (%s), exporting to %s, checkpoint %s",
        settings.topic,
        settings.bootstrap_servers,
        "bounded" if settings.bounded else f"every {settings.trigger_interval}",
        settings.output_dir,
        settings.checkpoint_dir,
    )
    try:
        run_until_stopped(query, stop)
    finally:
        spark.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
