"""Streaming job: counts customer tickets by type from Kafka and exports the counts as JSON lines.

Reads KAFKA_TOPIC through Spark's Kafka source (spark-sql-kafka-0-10, fetched into IVY_DIR at the
installed pyspark version), parses each message with an explicit schema, drops repeated ticket ids,
adds `support_team`, counts tickets by type and, after every micro-batch, replaces
OUTPUT_DIR/part-00000-<uuid>.json with the complete result:

    {"type":"ACCOUNT","ticket_count":52}

Each message that is not a valid ticket goes, with its reason, topic, partition and offset, to
QUARANTINE_DIR/batch-<id>.jsonl instead; such messages are never counted.

One streaming query reads the topic once, and each message gets exactly one verdict: counted (the
first copy of its ticket_id), duplicate, or quarantined. The verdict is decided once, with the
micro-batch's own timestamp, and persisted once: the deduplication state lives in Spark's RocksDB
state store (changelog checkpointing), and a single foreachBatch sink writes both outputs from one
action over the batch, idempotently per batch id (spark/sink.py). Two queries, one per output, would each
read the topic and judge a ticket near a time limit at its own moment: it could end in both places
or in neither.

Environment (also read from an optional `.env` in the working directory):
    KAFKA_BOOTSTRAP_SERVERS   default localhost:9092
    KAFKA_TOPIC               default client_tickets
    OUTPUT_DIR                default data/output/client_tickets
    QUARANTINE_DIR            default data/output/quarantine
    CHECKPOINT_DIR            default data/checkpoints/client_tickets (resume point; make clean resets it)
    DEDUP_HORIZON_MINUTES     default 1440: a ticket id is remembered this long (event time)
    IVY_DIR                   default ivy (Spark's dependency cache)
    MAX_OFFSETS_PER_TRIGGER   default 200000 (records per micro-batch; make run and compose use 50)
    TRIGGER_INTERVAL          default "1 second"
    SHUFFLE_PARTITIONS        default 2
    EXPECTED_TICKETS          optional: log "N/N tickets counted" at each multiple of it counted
    PROGRESS_FILE             optional: append each micro-batch's Spark progress (one JSON line)
    BOUNDED                   default false; true = process what the topic holds, then exit
    SPARK_MASTER              default local[*]
    SPARK_DRIVER_MEMORY       default 1g
    SPARK_DRIVER_HOST         optional: the name executors reach the driver at (it then listens on
                              every interface); for a client-mode driver in a container
    SPARK_DRIVER_PORT         optional: the driver's RPC port (default: any free one)
    SPARK_BLOCK_MANAGER_PORT  optional: the driver's and executors' block-manager port (any free one)
    LOG_LEVEL                 default INFO
    KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*: TLS and SASL, as common/kafka_security.py says;
                              they become the Kafka source's kafka.* options

Run:    python spark/spark_streaming.py [--bounded]
Logs:   one line per micro-batch on stderr: rows in = counted + duplicates + quarantined, rows/s,
        tickets counted so far (spark/progress.py).
Stops:  on SIGTERM or Ctrl-C, after the running micro-batch, keeping the checkpoint consistent.
Exits:  0 when stopped or drained (bounded), 1 when the query failed, 2 on bad configuration or
        when Kafka refuses the job (TLS, authentication, no READ permission on the topic), 3 when
        CHECKPOINT_DIR belongs to an incompatible version of the query, is incomplete, or is ahead of
        the topic (the topic was deleted or recreated since).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent / "common"))  # in the image: beside this file
from broker_watch import BrokerWatch, quiet_kafka_clients
from checkpoint import RESET_ADVICE, IncompatibleCheckpointError, claim_checkpoint
from connector import KAFKA_CONNECTOR, remember_jars, resolved_jars
from dotenv import load_dotenv
from kafka_security import KafkaSecurity, diagnose, tls_mismatch
from progress import ProgressLog
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery
from sink import MissingCountsError, VerdictSink
from transforms import CLOCK_SKEW_MINUTES, first_copies, parse_tickets

log = logging.getLogger("spark_streaming")

QUERY = "client_tickets"
ROCKSDB_STATE_STORE = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """The environment does not describe a runnable job; the message says what to fix."""


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "localhost:9092"
    topic: str = "client_tickets"
    output_dir: Path = Path("data/output/client_tickets")
    quarantine_dir: Path = Path("data/output/quarantine")
    checkpoint_dir: Path = Path("data/checkpoints/client_tickets")
    dedup_horizon_minutes: int = 24 * 60
    ivy_dir: Path = Path("ivy")
    max_offsets_per_trigger: int = 200_000
    trigger_interval: str = "1 second"
    shuffle_partitions: int = 2
    expected_tickets: int | None = None
    progress_file: Path | None = None
    bounded: bool = False
    master: str = "local[*]"
    driver_memory: str = "1g"
    driver_host: str | None = None
    driver_port: int | None = None
    block_manager_port: int | None = None
    log_level: str = "INFO"
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

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

        def port(name: str) -> int | None:
            number = positive(name, None)
            if number is not None and number > 65535:
                problems.append(f"{name}={number} is not a port (1-65535)")
            return number

        bounded = text("BOUNDED", "false").lower()
        if bounded not in TRUE_WORDS | FALSE_WORDS:
            problems.append(f"BOUNDED={bounded!r} must be true or false")
        settings = cls(
            bootstrap_servers=text("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            topic=text("KAFKA_TOPIC", cls.topic),
            output_dir=Path(text("OUTPUT_DIR", str(cls.output_dir))),
            quarantine_dir=Path(text("QUARANTINE_DIR", str(cls.quarantine_dir))),
            checkpoint_dir=Path(text("CHECKPOINT_DIR", str(cls.checkpoint_dir))),
            dedup_horizon_minutes=positive("DEDUP_HORIZON_MINUTES", cls.dedup_horizon_minutes),
            ivy_dir=Path(text("IVY_DIR", str(cls.ivy_dir))),
            max_offsets_per_trigger=positive("MAX_OFFSETS_PER_TRIGGER", cls.max_offsets_per_trigger),
            trigger_interval=text("TRIGGER_INTERVAL", cls.trigger_interval),
            shuffle_partitions=positive("SHUFFLE_PARTITIONS", cls.shuffle_partitions),
            expected_tickets=positive("EXPECTED_TICKETS", None),
            progress_file=Path(env["PROGRESS_FILE"]) if env.get("PROGRESS_FILE", "").strip() else None,
            bounded=bounded in TRUE_WORDS,
            master=text("SPARK_MASTER", cls.master),
            driver_memory=text("SPARK_DRIVER_MEMORY", cls.driver_memory),
            driver_host=env.get("SPARK_DRIVER_HOST", "").strip() or None,
            driver_port=port("SPARK_DRIVER_PORT"),
            block_manager_port=port("SPARK_BLOCK_MANAGER_PORT"),
            log_level=text("LOG_LEVEL", cls.log_level).upper(),
            security=KafkaSecurity.from_env(env, problems),
        )
        if settings.dedup_horizon_minutes < 3 * CLOCK_SKEW_MINUTES:
            problems.append(f"DEDUP_HORIZON_MINUTES must be at least {3 * CLOCK_SKEW_MINUTES}")
        if not isinstance(logging.getLevelName(settings.log_level), int):
            problems.append(f"LOG_LEVEL={settings.log_level!r} is not a logging level")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return settings


def driver_address(settings: Settings) -> dict[str, str]:
    """Where executors on other machines reach a client-mode driver; empty when Spark may choose."""
    conf = {}
    if settings.driver_host is not None:
        conf["spark.driver.host"] = settings.driver_host
        conf["spark.driver.bindAddress"] = "0.0.0.0"  # the advertised name resolves to another interface
    if settings.driver_port is not None:
        conf["spark.driver.port"] = str(settings.driver_port)
    if settings.block_manager_port is not None:
        conf["spark.blockManager.port"] = str(settings.block_manager_port)
    return conf


def create_session(settings: Settings) -> SparkSession:
    """A session with the Kafka connector of the installed pyspark (and the login module's jar the
    security settings need): from the jars an earlier start resolved into IVY_DIR, else through Ivy
    (and then those jars are remembered; see connector.py)."""
    extras = settings.security.java_packages()
    jars = resolved_jars(settings.ivy_dir, extras)
    builder = SparkSession.builder.appName("client-tickets").master(settings.master)
    for key, value in driver_address(settings).items():
        builder = builder.config(key, value)
    if jars is not None:
        builder = builder.config("spark.jars", ",".join(str(jar.resolve()) for jar in jars))
    else:
        builder = builder.config("spark.jars.packages", ",".join((KAFKA_CONNECTOR, *extras))).config(
            "spark.jars.ivy", str(settings.ivy_dir.resolve())
        )
    session = (
        builder.config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.ui.showConsoleProgress", "false")
        # Batches without new data would only advance the deduplication watermark (evicting old
        # ids), which the next batch with data does as well; skipping them saves idle work.
        .config("spark.sql.streaming.noDataMicroBatches.enabled", "false")
        # The seen ticket ids live in RocksDB (off the JVM heap, spilled to local disk), and each
        # batch checkpoints only its changes instead of a snapshot of the whole state.
        .config("spark.sql.streaming.stateStore.providerClass", ROCKSDB_STATE_STORE)
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    if jars is None:
        remember_jars(settings.ivy_dir, session.sparkContext.getConf().get("spark.jars", ""), extras)
    return session


def read_kafka(spark: SparkSession, settings: Settings) -> DataFrame:
    """The topic from its first offset, at most MAX_OFFSETS_PER_TRIGGER records per micro-batch."""
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap_servers)
        .option("subscribe", settings.topic)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
        .options(**settings.security.spark_kafka_options())
        .load()
    )
    # (key, value, topic, partition, offset, timestamp, timestampType)


def start_query(spark: SparkSession, settings: Settings, sink: VerdictSink) -> StreamingQuery:
    """Kafka -> parse -> one deduplication for all messages -> the sink; checkpointed in query/."""
    horizon = settings.dedup_horizon_minutes
    judged = first_copies(parse_tickets(read_kafka(spark, settings), horizon), horizon)
    writer = (
        judged.writeStream.queryName(QUERY)
        .outputMode("append")
        .foreachBatch(sink)
        .option("checkpointLocation", str((settings.checkpoint_dir / "query").resolve()))
    )
    if settings.bounded:
        return writer.trigger(availableNow=True).start()
    return writer.trigger(processingTime=settings.trigger_interval).start()


def stop_between_batches(query: StreamingQuery, patience: float = 30.0) -> None:
    """Stop `query` while no micro-batch runs, so that none is cut off midway.

    StreamingQuery.stop() interrupts a running batch; that is safe (the batch runs again on
    restart) but wasteful, so wait a little for the gap between two triggers.
    """
    deadline = time.monotonic() + patience
    while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.05)
    query.stop()


def run_until_stopped(query: StreamingQuery, stop: threading.Event) -> None:
    """Wait until the query ends by itself (bounded mode), fails, or a stop is requested."""
    while not stop.is_set() and query.isActive and query.exception() is None:
        stop.wait(timeout=0.5)
    if query.isActive:
        log.info("stopping %s after its current micro-batch", query.name)
        stop_between_batches(query)
    query.awaitTermination()  # raises StreamingQueryException if the query failed


def topic_behind_checkpoint(err: StreamingQueryException) -> str | None:
    """Where Spark's Kafka source found a partition ending below the checkpointed offset, if it did
    ("partition client_tickets-2 at 62, checkpoint at 249"); None for any other failure."""
    match = re.search(r"Partition (\S+) offset was changed from (\d+) to (\d+)", str(err))
    if match is None:
        return None
    partition, checkpointed, end = match.groups()
    return f"partition {partition} at {end}, checkpoint at {checkpointed}"


def refused_by_kafka(err: StreamingQueryException, settings: Settings) -> str | None:
    """Why Kafka refused the job, when it did: its TLS handshake, its login, or its permission to
    read the topic; None for any other failure."""
    said = str(err)
    if "TopicAuthorizationException" in said or "GroupAuthorizationException" in said:
        return (
            f"{settings.security.describe()} may not read topic {settings.topic!r} (topic authorization "
            "failed): grant the user READ on the topic (an ACL), or use the user that has it"
        )
    if match := re.search(
        r"UnsupportedSaslMechanismException: (.+?)(?: SQLSTATE: \w+)?$", said, re.MULTILINE
    ):
        return (
            f"the broker does not offer the login the job asks for ({match[1]}): check KAFKA_SASL_MECHANISM"
        )
    if "SaslAuthenticationException" in said:
        match = re.search(r"SaslAuthenticationException: (.+?)(?: SQLSTATE: \w+)?$", said, re.MULTILINE)
        return diagnose(settings.bootstrap_servers, settings.security, match[1] if match else None)
    if "SslAuthenticationException" in said or "SSLHandshakeException" in said:
        return tls_mismatch(settings.bootstrap_servers, settings.security) or "the TLS handshake failed"
    return None


def install_stop_handlers(stop: threading.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())


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

    # A TLS setting the broker does not share fails here, in one line, rather than after Spark's start
    # and a minute of the Kafka client's retries (an unreachable broker is waited for: it may come).
    if (mismatch := tls_mismatch(settings.bootstrap_servers, settings.security)) is not None:
        log.error("Kafka at %s refuses the job: %s", settings.bootstrap_servers, mismatch)
        return 2
    try:
        claim_checkpoint(settings.checkpoint_dir)
    except IncompatibleCheckpointError as err:
        log.error("%s", err)
        return 3

    # Ctrl-C (SIGINT to the whole process group; the JVM ignores it) and SIGTERM (docker stop)
    # both stop the queries between micro-batches. Installed again after the session starts:
    # a new SparkContext puts in pyspark's own SIGINT handler, which raises KeyboardInterrupt.
    stop = threading.Event()
    install_stop_handlers(stop)
    spark = create_session(settings)
    install_stop_handlers(stop)
    sink = VerdictSink(settings.output_dir, settings.quarantine_dir, settings.checkpoint_dir / "counts")
    spark.streams.addListener(
        ProgressLog(QUERY, sink.verdicts, settings.expected_tickets, settings.progress_file)
    )
    log.info(
        "reading %r at %s over %s (%s); counts to %s, quarantine to %s, checkpoints in %s",
        settings.topic,
        settings.bootstrap_servers,
        settings.security.describe(),
        "bounded" if settings.bounded else f"every {settings.trigger_interval}",
        settings.output_dir,
        settings.quarantine_dir,
        settings.checkpoint_dir,
    )
    if settings.log_level != "DEBUG":
        quiet_kafka_clients(spark)
    finished = threading.Event()
    BrokerWatch(settings.bootstrap_servers, finished).start()
    try:
        run_until_stopped(start_query(spark, settings, sink), stop)
    except StreamingQueryException as err:
        if (behind := topic_behind_checkpoint(err)) is not None:
            log.error(
                "topic %r ends before the checkpoint's position (%s): the topic was deleted or "
                "recreated (as `docker compose down -v` does) while CHECKPOINT_DIR kept the old "
                "position; %s",
                settings.topic,
                behind,
                RESET_ADVICE,
            )
            return 3
        if missing := re.search(rf"{MissingCountsError.__name__}: (.+)", str(err)):
            log.error(
                "the checkpoint in %s is incomplete: %s; %s",
                settings.checkpoint_dir,
                missing[1],
                RESET_ADVICE,
            )
            return 3
        if refusal := refused_by_kafka(err, settings):
            log.error("Kafka at %s refuses the job: %s", settings.bootstrap_servers, refusal)
            return 2
        log.error("the query failed: %s", err)
        log.error("if the queries changed since the checkpoint was written, %s", RESET_ADVICE)
        return 1
    finally:
        finished.set()
        spark.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
