"""Streaming job: counts customer tickets by type from Kafka and exports the counts as JSON lines.

Reads KAFKA_TOPIC through Spark's Kafka source (spark-sql-kafka-0-10 at the installed pyspark's
version, resolved once into IVY_DIR from Maven Central), parses each message with an explicit
schema, drops repeated ticket ids, adds `support_team`, counts tickets by type and, after every
micro-batch, replaces OUTPUT_DIR/part-00000-<uuid>.json with the complete result:

    {"type":"ACCOUNT","ticket_count":52}

Each message that is not a valid ticket goes, with its reason, topic, partition and offset, to
QUARANTINE_DIR/batch-<id>.jsonl instead; such messages are never counted.

One streaming query reads the topic once, and each message gets exactly one verdict: counted (the
first copy of its ticket_id), duplicate, or quarantined. The verdict is decided once, with the
micro-batch's own timestamp, and persisted once: the deduplication state lives in Spark's RocksDB
state store (changelog checkpointing), and a single foreachBatch sink writes both outputs from one
action over the batch, idempotently per batch id (tickets_job.sink). Two queries, one per output,
would each read the topic and judge a ticket near a time limit at its own moment: it could end in
both places or in neither.

Environment (also read from an optional `.env` in the working directory):
    KAFKA_BOOTSTRAP_SERVERS   default localhost:9092
    KAFKA_TOPIC               default client_tickets
    OUTPUT_DIR                default data/output/client_tickets
    QUARANTINE_DIR            default data/output/quarantine
    QUARANTINE_RETENTION_DAYS default 30: quarantine files older than this are deleted
    CHECKPOINT_DIR            default data/checkpoints/client_tickets (resume point; make clean resets it)
    DEDUP_HORIZON_MINUTES     default 1440: a ticket id is remembered this long (event time)
    IVY_DIR                   default ivy (Spark's dependency cache, and the driver's class archive)
    CLASS_ARCHIVE             default true: the driver's JVM maps the classes an earlier run archived
                              (the first run writes the archive when it stops; tickets_job.class_archive)
    MAX_OFFSETS_PER_TRIGGER   default 200000 (records per micro-batch; make run and compose use 50)
    MAX_POLL_RECORDS          default 100: records the Kafka client decompresses at once per task
                              (raise it for throughput when no message inflates to megabytes)
    TRIGGER_INTERVAL          default "200 milliseconds"
    SHUFFLE_PARTITIONS        default 2
    EXPECTED_TICKETS          optional: log "N/N tickets counted" at each multiple of it counted
    PROGRESS_FILE             optional: append the job's events (started, each micro-batch,
                              stopped) as JSON lines; tickets_job.progress documents them
    SPARK_EVENT_LOG_DIR       optional: Spark's event log goes there (every job, stage and task with
                              its timings; for the history server and tickets_bench.profile)
    BOUNDED                   default false; true = process what the topic holds, then exit
    SPARK_MASTER              default local[*]
    SPARK_DRIVER_MEMORY       default 1g
    SPARK_UI_PORT             default 4040 (Spark takes the next free port when it is taken); Spark's
                              metrics for Prometheus at /metrics/prometheus and
                              /metrics/executors/prometheus on it
    KAFKA_GROUP_ID            default client-tickets-spark: the consumer group that each durable
                              micro-batch's end offsets are committed to, for monitoring (lag in
                              Redpanda Console); off = no commits (tickets_job.group)
    DLQ_TOPIC                 default <KAFKA_TOPIC>.dlq: every quarantined message, byte for byte,
                              with its reason in headers; off = none (tickets_job.deadletter)
    METRICS_PORT              default 9180: the job's metrics for Prometheus (tickets_job.metrics);
                              off = not served
    METRICS_BIND              default 127.0.0.1: the address they are served on (0.0.0.0 in Docker)
    SPARK_BIND_ADDRESS        default 127.0.0.1: the interface the driver's UI, RPC and block-manager
                              ports listen on (0.0.0.0 in a container that publishes them)
    SPARK_DRIVER_HOST         optional: the name executors reach the driver at (it then listens on
                              every interface); for a client-mode driver in a container
    SPARK_DRIVER_PORT         optional: the driver's RPC port (default: any free one)
    SPARK_BLOCK_MANAGER_PORT  optional: the driver's and executors' block-manager port (any free one)
    LOG_LEVEL                 default INFO
    KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*: TLS and SASL, as tickets_kafka.security says;
                              they become the Kafka source's kafka.* options

Run:    python -m tickets_job [--bounded]
Logs:   one line per micro-batch on stderr: rows in = counted + duplicates + quarantined, rows/s,
        tickets counted so far (tickets_job.progress).
Stops:  on SIGTERM or Ctrl-C, after the running micro-batch, keeping the checkpoint consistent.
Exits:  0 when stopped or drained (bounded), 1 when the query failed, 2 on bad configuration or
        flags, when the Kafka connector cannot be resolved (the line names the artifact), when
        Kafka refuses the job (TLS, authentication, no READ permission on the topic) or when the
        dead-letter topic does not take the rejected messages (missing, no WRITE), 3 when
        CHECKPOINT_DIR belongs to an incompatible version of the query, is incomplete, or was read
        from another topic of the same name (deleted and created again since: its topic ID differs,
        or it ends before the checkpoint's position).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
import time

from dotenv import load_dotenv
from pyspark import SparkContext
from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from tickets_job.broker_watch import BrokerWatch, quiet_kafka_clients
from tickets_job.checkpoint import claim_checkpoint
from tickets_job.class_archive import ClassArchive
from tickets_job.deadletter import DeadLetters
from tickets_job.failures import STARTUP_FAILURES, classify, exit_code, refuse_tls_mismatch
from tickets_job.group import GroupCommitter
from tickets_job.metrics import JobMetrics
from tickets_job.progress import ProgressLog
from tickets_job.session import create_session, kafka_options, read_kafka
from tickets_job.settings import Settings
from tickets_job.sink import VerdictSink
from tickets_job.topic_identity import TopicIdentity
from tickets_job.transforms import first_copies, parse_tickets

log = logging.getLogger(__name__)

QUERY = "client_tickets"


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


def install_stop_handlers(stop: threading.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """--bounded, and --help with the variables and exit codes; a bad flag exits 2 with the usage."""
    parser = argparse.ArgumentParser(
        prog="python -m tickets_job",
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__[__doc__.index("Environment") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--bounded", action="store_true", help="process what the topic holds, then exit (BOUNDED=true)"
    )
    return parser.parse_args(argv)


def read_settings(argv: list[str] | None) -> Settings:
    """The flags over the environment over ./.env; logging set up at the level they ask for."""
    args = parse_args(argv)
    load_dotenv(".env")  # the working directory's; the environment wins over it
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    settings = Settings.from_env(os.environ)
    if args.bounded:
        settings = dataclasses.replace(settings, bounded=True)
    logging.getLogger().setLevel(settings.log_level)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # kafka-python's own lines, at every level: its clients log their whole configuration, the
    # password with it, at DEBUG (their failures reach the job as errors).
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    log.debug("settings: %r", settings)  # the password as a mask (tickets_kafka.security.Secret)
    return settings


def start_session(settings: Settings, stop: threading.Event, archive: ClassArchive | None) -> SparkSession:
    """The session, with Ctrl-C (SIGINT to the whole process group; the JVM ignores it) and SIGTERM
    (docker stop) both setting `stop`. Installed again after the session starts: a new SparkContext
    puts in pyspark's own SIGINT handler, which raises KeyboardInterrupt."""
    install_stop_handlers(stop)
    spark = create_session(settings, archive)
    install_stop_handlers(stop)
    if settings.log_level != "DEBUG":
        quiet_kafka_clients(spark)
    return spark


def class_archive(settings: Settings) -> ClassArchive | None:
    """The driver's class archive, beside the Ivy cache (None: CLASS_ARCHIVE=false)."""
    if not settings.class_archive:
        return None
    return ClassArchive.for_session(settings.ivy_dir / "class-archive", settings.security.java_packages())


def monitoring(settings: Settings) -> tuple[GroupCommitter | None, JobMetrics | None]:
    """The consumer group's committer and the metrics' server, as the settings ask."""
    committer = GroupCommitter(settings, settings.group_id) if settings.group_id else None
    metrics = None
    if settings.metrics_port is not None:
        metrics = JobMetrics()
        metrics.serve(settings.metrics_port, settings.metrics_bind)
    return committer, metrics


def main(argv: list[str] | None = None) -> int:
    stop = threading.Event()
    dead_letters = None
    try:
        settings = read_settings(argv)
        refuse_tls_mismatch(settings)
        claim_checkpoint(settings.checkpoint_dir)
        if settings.dlq_topic is not None:
            dead_letters = DeadLetters(
                settings, settings.dlq_topic, kafka_options(settings), settings.max_poll_records
            )
            dead_letters.check()
        archive = class_archive(settings)
        spark = start_session(settings, stop, archive)
    except tuple(STARTUP_FAILURES) as err:
        log.error("%s", err)
        return exit_code(err)

    counts_dir = settings.checkpoint_dir / "counts"
    identity = TopicIdentity(settings)
    sink = VerdictSink(
        settings.output_dir,
        settings.quarantine_dir,
        counts_dir,
        dead_letters,
        identity,
        settings.quarantine_retention_days,
    )
    committer, metrics = monitoring(settings)
    spark.streams.addListener(
        ProgressLog(
            QUERY, sink.verdicts, settings.expected_tickets, settings.progress_file, committer, metrics
        )
    )
    log.info(
        "reading %r at %s over %s (%s); counts to %s, quarantine to %s and topic %s, checkpoints in %s",
        settings.topic,
        settings.bootstrap_servers,
        settings.security.describe(),
        "bounded" if settings.bounded else f"every {settings.trigger_interval}",
        settings.output_dir,
        settings.quarantine_dir,
        settings.dlq_topic or "(none)",
        settings.checkpoint_dir,
    )
    finished = threading.Event()
    on_probe = metrics.kafka_probed if metrics is not None else None
    BrokerWatch(settings.bootstrap_servers, finished, on_probe=on_probe).start()
    try:
        run_until_stopped(start_query(spark, settings, sink), stop)
    except StreamingQueryException as err:
        failure = classify(err, settings, sink.failure)
        log.error("%s", failure.message)
        return failure.code
    finally:
        finished.set()
        spark.stop()
        if archive is not None:
            archive.keep(SparkContext._gateway.proc)
        if committer is not None:
            committer.close()
    log.info("stopped")
    return 0
