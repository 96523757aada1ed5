"""The job's SparkSession and its Kafka source."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from pyspark.sql import DataFrame, SparkSession

from tickets_job.class_archive import ClassArchive
from tickets_job.connector import resolve_jars
from tickets_job.lake import DELTA_SESSION
from tickets_job.settings import Settings
from tickets_job.storage import S3A_PACKAGES, s3a_conf
from tickets_job.tables import DELTA_SPARK

ROCKSDB_STATE_STORE = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"

# Spark's own metrics for Prometheus, on the UI port: the driver's (the streaming query's among
# them) at /metrics/prometheus, the executors' at /metrics/executors/prometheus. The namespace
# replaces the application id in the metric names, so that they stay the same from run to run.
PROMETHEUS_METRICS = {
    "spark.sql.streaming.metricsEnabled": "true",
    "spark.ui.prometheus.enabled": "true",
    "spark.metrics.namespace": "client_tickets",
    "spark.metrics.conf.*.sink.prometheusServlet.class": "org.apache.spark.metrics.sink.PrometheusServlet",
    "spark.metrics.conf.*.sink.prometheusServlet.path": "/metrics/prometheus",
}


# What Spark hides (as "*********(redacted)") in its UI, its REST API, its event log, explain() and
# errors: a setting or an option whose key or value matches. Spark's own pattern knows passwords,
# secrets and tokens; ours adds the JAAS login whatever its password looks like, every keystore
# option (the mutual-TLS key is PEM content under kafka.ssl.keystore.key, a key Spark's pattern
# misses) and any PEM private key, whatever option carries it.
REDACTION = {
    "spark.redaction.regex": "(?i)secret|password|token|access[.]?key|jaas|keystore|private key",
    "spark.sql.redaction.options.regex": "(?i)url|jaas|keystore|password|secret|token",
}


# A batch that takes longer than the trigger interval makes Spark warn at every such batch ("Current
# batch is falling behind"); with a short interval that is most batches under load, and the next
# batch simply starts at once.
QUIET_LOGGERS = ("org.apache.spark.sql.execution.streaming.runtime.ProcessingTimeExecutor",)


EVERY_INTERFACE = "0.0.0.0"


def driver_address(settings: Settings) -> dict[str, str]:
    """Where the driver listens (SPARK_BIND_ADDRESS, loopback by default) and where executors on
    other machines reach a client-mode driver (SPARK_DRIVER_HOST: it then listens on every
    interface, since the name it is reached at resolves to another one)."""
    if settings.driver_host is not None:
        conf = {"spark.driver.host": settings.driver_host, "spark.driver.bindAddress": EVERY_INTERFACE}
    else:
        conf = {"spark.driver.bindAddress": settings.bind_address}
        if settings.bind_address != EVERY_INTERFACE:
            conf["spark.driver.host"] = settings.bind_address
    if settings.driver_port is not None:
        conf["spark.driver.port"] = str(settings.driver_port)
    if settings.block_manager_port is not None:
        conf["spark.blockManager.port"] = str(settings.block_manager_port)
    return conf


def event_log(settings: Settings) -> dict[str, str]:
    """Spark's event log (every job, stage and task with its timings, for the history server and
    for profiling a micro-batch: tickets_bench.profile), when SPARK_EVENT_LOG_DIR asks for it."""
    if settings.event_log_dir is None:
        return {}
    settings.event_log_dir.mkdir(parents=True, exist_ok=True)
    return {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": settings.event_log_dir.resolve().as_uri(),
        "spark.eventLog.compress": "false",  # JSON lines that a script reads as they are
    }


def java_packages(settings: Settings) -> tuple[str, ...]:
    """The packages the job needs beside the Kafka connector: the login module the security
    settings ask for, Delta Lake when the lake is on, S3A when a location is on S3."""
    packages = settings.security.java_packages()
    if settings.lake_uri is not None:
        packages += (DELTA_SPARK,)
    if settings.uses_s3():
        packages += S3A_PACKAGES
    return packages


def lake_and_storage(settings: Settings) -> dict[str, str]:
    """Delta's session settings when the lake is on, S3A's when a location is on S3."""
    conf = dict(DELTA_SESSION) if settings.lake_uri is not None else {}
    if settings.uses_s3():
        conf |= s3a_conf(settings.s3)
    return conf


def driver_environment(settings: Settings) -> dict[str, str]:
    """The variables the driver's JVM reads as it starts, which a program sets in its environment
    before it calls create_session."""
    variables = {}
    if settings.properties_file is not None:
        # Read by spark-submit. Every builder setting of create_session is on the JVM's command line
        # (--conf), where `ps` shows it to any user: the cluster's secret is not.
        properties = shlex.quote(str(settings.properties_file.resolve()))
        variables["PYSPARK_SUBMIT_ARGS"] = f"--properties-file {properties} pyspark-shell"
    if settings.driver_host is None and settings.bind_address != EVERY_INTERFACE:
        # The interface the driver's UI binds to (Spark's WebUI takes no setting).
        variables["SPARK_LOCAL_IP"] = settings.bind_address
    return variables


def create_session(settings: Settings, archive: ClassArchive | None = None) -> SparkSession:
    """A session with the Kafka connector's jars (and those of `java_packages`), resolved into
    IVY_DIR on the first start (ConnectorUnavailableError if they cannot be); with `archive`, the
    driver's JVM maps or writes it (tickets_job.class_archive). The process's environment must hold
    driver_environment(settings)."""
    jars = resolve_jars(settings.ivy_dir, java_packages(settings))
    builder = SparkSession.builder.appName("client-tickets").master(settings.master)
    if archive is not None:
        builder = builder.config("spark.driver.extraJavaOptions", archive.java_options())
    for key, value in {
        **driver_address(settings),
        **event_log(settings),
        **lake_and_storage(settings),
        **PROMETHEUS_METRICS,
        **REDACTION,
    }.items():
        builder = builder.config(key, value)
    session = (
        builder.config("spark.jars", ",".join(str(jar.resolve()) for jar in jars))
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.ui.port", str(settings.ui_port))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")  # the lake's days (created_date) are UTC days
        # What Spark and Delta write through Hadoop (the checkpoint, the tables) is not for every
        # user of the machine either: files 0640, folders 0750 (tickets_job.export.FILE_MODE).
        .config("spark.hadoop.fs.permissions.umask-mode", "027")
        .config("spark.ui.killEnabled", "false")  # the UI has no login: no one stops the job from it
        # Batches without new data would only advance the deduplication watermark (evicting old
        # ids), which the next batch with data does as well; skipping them saves idle work.
        .config("spark.sql.streaming.noDataMicroBatches.enabled", "false")
        # The seen ticket ids live in RocksDB (off the JVM heap, spilled to local disk), and each
        # batch checkpoints only its changes instead of a snapshot of the whole state.
        .config("spark.sql.streaming.stateStore.providerClass", ROCKSDB_STATE_STORE)
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        # Not counting the ids kept saves a lookup per write (Spark's RocksDB tuning advice; its
        # effect: docs/PERFORMANCE.md). The UI then shows 0 rows in state.
        .config("spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    quiet_loggers(session, QUIET_LOGGERS)
    return session


def quiet_loggers(spark: SparkSession, names: Iterable[str]) -> None:
    """Only errors from these loggers (and their children) in Spark's log."""
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j
    for name in names:
        log4j.core.config.Configurator.setLevel(name, log4j.Level.ERROR)


def kafka_options(settings: Settings) -> dict[str, str]:
    """Where Kafka is and how the job logs in, as the options of Spark's Kafka source and sink."""
    return {"kafka.bootstrap.servers": settings.bootstrap_servers, **settings.security.spark_kafka_options()}


def read_kafka(spark: SparkSession, settings: Settings) -> DataFrame:
    """The topic from its first offset, at most MAX_OFFSETS_PER_TRIGGER records per micro-batch."""
    return (
        spark.readStream.format("kafka")
        .options(**kafka_options(settings))
        .option("subscribe", settings.topic)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
        # A topic created while the job runs is listed before a loaded broker leads its partitions,
        # and its offsets are refused meanwhile ("does not host this topic-partition"): asked again
        # each second for 10 s instead of Spark's 3.
        .option("fetchOffset.numRetries", "10")
        .option("kafka.max.poll.records", str(settings.max_poll_records))
        .load()
    )
    # (key, value, topic, partition, offset, timestamp, timestampType)
