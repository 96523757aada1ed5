"""The whole pipeline on this machine, without Docker (`make run`, `make cluster-run`).

Every run starts from a clean slate: the topic, the output and the checkpoint are reset, so the
result counts exactly this run's tickets. Then it starts the Spark job (in the background) and the
producer, waits until the exported counts add up to the tickets the broker acknowledged, prints
the part file, and stops the job.

    python -m tickets_local run
        on the local broker (local/kafka/kafka.sh, reset and started here, stopped at the end), the
        job in one process (local[*])
    python -m tickets_local run --cluster
        on the local cluster of `make cluster-up` (three Kafka nodes, a Spark master with two
        workers; started if down, left running): the job is the cluster's client-mode driver, its
        tasks run in executors on the workers, which get the Kafka connector from the driver

Environment: the producer's and the job's variables (TICKET_COUNT, TICKET_SEED, OUTPUT_DIR,
CHECKPOINT_DIR, ...; see .env.example), the broker's (KAFKA_PORT, KAFKA_STATE_DIR, ...; see
local/kafka/kafka.sh) and RUN_TIMEOUT (seconds to wait for the counts, default 300).
Logs:   the job's full log goes to LOG_DIR (default data/logs)/spark.log; its progress lines are
        echoed here. The result goes to stdout.
Exits:  0 with the result printed, 1 when a step failed (it says which and why), 2 on bad
        configuration.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

from tickets_job.export import current_part
from tickets_job.settings import Settings as JobSettings
from tickets_kafka import program
from tickets_kafka.settings import ConfigError
from tickets_local.brokers import Broker, cluster_broker
from tickets_local.jobs import Job, run_producer
from tickets_local.process import StepError, wait_until
from tickets_local.spark_cluster import cluster_env, spark_cluster
from tickets_producer.settings import Settings as ProducerSettings

log = logging.getLogger(__name__)

LOG_DIR = "data/logs"  # where the job's full log goes
RUN_TIMEOUT = 300  # seconds to wait for the counts
# The job's lines shown here as it runs: its own loggers' (progress, start, stop) and every error.
ECHOED = (" tickets_job.", " ERROR ")
DEMO_OFFSETS_PER_TRIGGER = 50


def recreate_topic(broker: Broker, topic: str) -> None:
    """An empty `topic` and dead-letter topic on a broker that keeps running (deletion completes in
    the background)."""
    topics = "org.apache.kafka.tools.TopicCommand"

    def listed() -> list[str]:
        return broker.tool(topics, "--list").split()

    for name in (topic, f"{topic}.dlq"):
        if name in listed():
            broker.tool(topics, "--delete", "--topic", name)
            wait_until(lambda name=name: name not in listed(), 60, f"{name} to be deleted")
    broker.kafka_sh("topic", topic)


def run(cluster: bool) -> int:
    try:
        producer_settings = ProducerSettings.from_env(os.environ)
        job_settings = JobSettings.from_env(os.environ)
    except ConfigError as err:
        log.error("%s", err)
        return 2
    log_dir = Path(os.environ.get("LOG_DIR", LOG_DIR))
    env = {
        **os.environ,
        "OUTPUT_DIR": str(job_settings.output_dir),
        "EXPECTED_TICKETS": str(producer_settings.ticket_count),
        # A demo: small micro-batches, so the 200 tickets show up as several progress lines.
        "MAX_OFFSETS_PER_TRIGGER": os.environ.get("MAX_OFFSETS_PER_TRIGGER", str(DEMO_OFFSETS_PER_TRIGGER)),
    }
    if job_settings.uses_s3():
        # It starts from a clean slate, and deletes nothing on S3.
        log.error("make run resets the job's state: it runs with a local CHECKPOINT_DIR and LAKE_URI only")
        return 2
    lake = [Path(job_settings.lake_uri)] if job_settings.lake_uri is not None else []
    state = (job_settings.output_dir, job_settings.quarantine_dir, Path(job_settings.checkpoint_dir), *lake)
    broker = cluster_broker() if cluster else Broker(quiet=False)
    job = None
    try:
        if cluster:
            spark = spark_cluster()
            broker.up()
            spark.up()
            env |= {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, **cluster_env(spark)}
            log.info("emptying topic %s and resetting %s", job_settings.topic, ", ".join(map(str, state)))
            recreate_topic(broker, job_settings.topic)
        else:
            log.info("resetting the broker's data and %s", ", ".join(map(str, state)))
            broker.reset()
            broker.up()
        for folder in state:
            shutil.rmtree(folder, ignore_errors=True)

        job = Job(env, (log_dir / "spark.log").resolve(), echo=ECHOED, cwd=Path.cwd())
        (log_dir / "spark.log").unlink(missing_ok=True)
        job.progress_file.unlink(missing_ok=True)  # this run's events only, like its log
        job.start()
        where = f" on {env['SPARK_MASTER']}" if cluster else ""
        log.info("Spark job started%s (pid %d, log %s); producing", where, job.process.pid, job.log_path)
        run_producer(env)
        timeout = float(os.environ.get("RUN_TIMEOUT", RUN_TIMEOUT))
        job.wait_for_total(producer_settings.ticket_count, timeout)
        job.stop()  # first, so that its last progress lines come before the result
        part = current_part(job_settings.output_dir)
        assert part is not None
        sys.stdout.write(f"\n{part}\n{part.read_text(encoding='utf-8')}\n")
        return 0
    except (StepError, TimeoutError) as err:
        log.error("%s%s", err, f"; the job's log: {job.log_path}" if job is not None else "")
        return 1
    except KeyboardInterrupt:
        log.info("interrupted; stopping")
        return 130
    finally:
        try:
            if job is not None and job.process is not None:
                job.stop()
            if not cluster:
                broker.down()
        except StepError as err:
            log.error("%s", err)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tickets_local run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", action="store_true", help="on the local cluster of `make cluster-up`")
    args = parser.parse_args(argv)
    program.read_environment()  # ./.env of the working directory, like the programs it starts
    program.start_logging()
    return run(args.cluster)
