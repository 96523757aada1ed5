"""Streaming job: counts customer tickets by type from Kafka and exports the counts as JSON lines.

Reads KAFKA_TOPIC through Spark's Kafka source (spark-sql-kafka-0-10 at the installed pyspark's
version, resolved once into IVY_DIR from Maven Central), parses each message with an explicit
schema, drops repeated ticket ids, adds `support_team`, counts tickets by type and, after every
micro-batch, replaces OUTPUT_DIR/part-00000-<uuid>.json with the complete result:

    {"type":"ACCOUNT","ticket_count":52}

and appends the batch's counted tickets, and the counts after it, to two Delta tables under
LAKE_URI (tickets_job.lake).

Each message that is not a valid ticket goes, with its reason, topic, partition and offset, to
QUARANTINE_DIR/batch-<id>.jsonl instead; such messages are never counted.

One streaming query reads the topic once, and each message gets exactly one verdict: counted (the
first copy of its ticket_id), duplicate, or quarantined. The verdict is decided once, with the
micro-batch's own timestamp, and persisted once: the deduplication state lives in Spark's RocksDB
state store (changelog checkpointing), and a single foreachBatch sink writes both outputs from one
action over the batch, idempotently per batch id (tickets_job.sink). Two queries, one per output,
would each read the topic and judge a ticket near a time limit at its own moment: it could end in
both places or in neither.

Run:    python -m tickets_job [--bounded]
Logs:   one line per micro-batch on stderr: rows in = counted + duplicates + quarantined, rows/s,
        tickets counted so far (tickets_job.progress).
Stops:  on SIGTERM or Ctrl-C, after the running micro-batch, keeping the checkpoint consistent.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import threading
import time

from pyspark import SparkContext
from pyspark.errors import PySparkRuntimeError, StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from tickets_job.broker_watch import BrokerWatch, quiet_kafka_clients
from tickets_job.checkpoint import claim_checkpoint
from tickets_job.class_archive import ClassArchive
from tickets_job.deadletter import DeadLetters
from tickets_job.errors import EXIT_CODES, SparkUnavailableError
from tickets_job.failures import STARTUP_FAILURES, classify, refuse_tls_mismatch
from tickets_job.group import GroupCommitter
from tickets_job.lake import Lake
from tickets_job.lease import WriterLease
from tickets_job.metrics import JobMetrics
from tickets_job.progress import ProgressLog
from tickets_job.session import create_session, driver_environment, java_packages, kafka_options, read_kafka
from tickets_job.settings import Settings
from tickets_job.sink import VerdictSink
from tickets_job.storage import Folder, check_reachable, open_folder, spark_path
from tickets_job.topic_identity import TopicIdentity
from tickets_job.transforms import first_copies, parse_tickets
from tickets_kafka import program
from tickets_kafka.settings import variables

log = logging.getLogger(__name__)

QUERY = "client_tickets"


def start_query(
    spark: SparkSession, settings: Settings, sink: VerdictSink, checkpoint: Folder
) -> StreamingQuery:
    """Kafka -> parse -> one deduplication for all messages -> the sink; checkpointed in query/."""
    horizon = settings.dedup_horizon_minutes
    judged = first_copies(parse_tickets(read_kafka(spark, settings), horizon), horizon)
    writer = (
        judged.writeStream.queryName(QUERY)
        .outputMode("append")
        .foreachBatch(sink)
        .option("checkpointLocation", (checkpoint / "query").uri)
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
    parser = program.parser("python -m tickets_job", __doc__, variables(Settings), EXIT_CODES)
    parser.add_argument(
        "--bounded", action="store_true", help="process what the topic holds, then exit (BOUNDED=true)"
    )
    return parser.parse_args(argv)


def read_settings(argv: list[str] | None) -> Settings:
    """The flags over the environment over ./.env; logging set up at the level they ask for."""
    args = parse_args(argv)
    program.start_logging()
    settings = Settings.from_env(program.read_environment())
    if args.bounded:
        settings = dataclasses.replace(settings, bounded=True)
    # kafka-python's own lines, at every level: its clients log their whole configuration, the
    # password with it, at DEBUG (their failures reach the job as errors).
    program.start_logging(settings.log_level, quiet={"py4j": logging.WARNING, "kafka": logging.CRITICAL})
    log.debug("settings: %r", settings)  # the password as a mask (tickets_kafka.security.Secret)
    return settings


def start_session(settings: Settings, stop: threading.Event, archive: ClassArchive | None) -> SparkSession:
    """The session, with Ctrl-C (SIGINT to the whole process group; the JVM ignores it) and SIGTERM
    (docker stop) both setting `stop`. Installed again after the session starts: a new SparkContext
    puts in pyspark's own SIGINT handler, which raises KeyboardInterrupt. A JVM that does not start
    is a SparkUnavailableError (exit 2), not a traceback."""
    install_stop_handlers(stop)
    os.environ.update(driver_environment(settings))
    try:
        spark = create_session(settings, archive)
    except PySparkRuntimeError as err:  # the JVM's own lines, just above, say why
        raise SparkUnavailableError(str(err)) from None
    install_stop_handlers(stop)
    if settings.log_level != "DEBUG":
        quiet_kafka_clients(spark)
    return spark


def class_archive(settings: Settings) -> ClassArchive | None:
    """The driver's class archive, beside the Ivy cache (None: CLASS_ARCHIVE=false)."""
    if not settings.class_archive:
        return None
    return ClassArchive.for_session(settings.ivy_dir / "class-archive", java_packages(settings))


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
    lease = None
    try:
        settings = read_settings(argv)
        refuse_tls_mismatch(settings)
        check_reachable("CHECKPOINT_DIR", settings.checkpoint_dir, settings.s3)
        if settings.lake_uri is not None:
            check_reachable("LAKE_URI", settings.lake_uri, settings.s3)
        checkpoint = open_folder(settings.checkpoint_dir, settings.s3)
        lease = WriterLease(checkpoint)
        lease.acquire()
        writer_id = claim_checkpoint(checkpoint)
        if settings.dlq_topic is not None:
            dead_letters = DeadLetters(
                settings, settings.dlq_topic, kafka_options(settings), settings.max_poll_records
            )
            dead_letters.check()
        archive = class_archive(settings)
        spark = start_session(settings, stop, archive)
    except STARTUP_FAILURES as err:
        log.error("%s", err)
        if lease is not None:
            lease.release()
        return err.exit_code

    lake = Lake(spark_path(settings.lake_uri), writer_id) if settings.lake_uri is not None else None
    sink = VerdictSink(
        settings.output_dir,
        settings.quarantine_dir,
        checkpoint / "counts",
        dead_letters,
        (lease.check, TopicIdentity(settings, checkpoint).check),
        settings.quarantine_retention_days,
        lake,
    )
    committer, metrics = monitoring(settings)
    spark.streams.addListener(
        ProgressLog(
            QUERY, sink.verdicts, settings.expected_tickets, settings.progress_file, committer, metrics
        )
    )
    log.info(
        "reading %r at %s over %s (%s); counts to %s, quarantine to %s and topic %s, lake %s, "
        "checkpoints in %s",
        settings.topic,
        settings.bootstrap_servers,
        settings.security.describe(),
        "bounded" if settings.bounded else f"every {settings.trigger_interval}",
        settings.output_dir,
        settings.quarantine_dir,
        settings.dlq_topic or "(none)",
        settings.lake_uri or "off",
        settings.checkpoint_dir,
    )
    lease.keep()
    finished = threading.Event()
    on_probe = metrics.kafka_probed if metrics is not None else None
    BrokerWatch(settings.servers, finished, on_probe=on_probe).start()
    try:
        run_until_stopped(start_query(spark, settings, sink, checkpoint), stop)
    except StreamingQueryException as err:
        failure = classify(err, settings, sink.failure)
        log.error("%s", failure)
        return failure.exit_code
    finally:
        finished.set()
        spark.stop()
        if archive is not None:
            archive.keep(SparkContext._gateway.proc)
        if committer is not None:
            committer.close()
        lease.release()
    log.info("stopped")
    return 0
