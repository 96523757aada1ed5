"""The local cluster: `make cluster-up`, `make cluster-down`.

    python -m tickets_local cluster up
        three Kafka nodes (a KRaft quorum of three, topics at replication factor 3,
        min.insync.replicas 2) and a Spark standalone master with two workers; whatever already
        runs is kept
    python -m tickets_local cluster down
        stop all of it (the data stays in data/cluster until `make clean`)
    python -m tickets_local cluster status
        exit 0 when every process runs

Ports and folders: tickets_local.brokers.cluster_broker and tickets_local.spark_cluster. `make cluster-run`
(python -m tickets_local run --cluster) runs the pipeline on it.
"""

from __future__ import annotations

import argparse
import logging

from tickets_kafka import program
from tickets_local.brokers import cluster_broker
from tickets_local.process import StepError
from tickets_local.spark_cluster import spark_cluster

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tickets_local cluster", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args(argv).command
    program.start_logging()
    broker, spark = cluster_broker(), spark_cluster()
    try:
        if command == "up":
            broker.up()
            spark.up()
            log.info(
                "up: KAFKA_BOOTSTRAP_SERVERS=%s SPARK_MASTER=%s SPARK_PROPERTIES_FILE=%s",
                broker.bootstrap,
                spark.master,
                spark.properties,
            )
        elif command == "down":
            spark.down()  # first: its executors read from the brokers
            broker.down()
        else:
            broker.kafka_sh("status")
            spark.spark_sh("status")
    except StepError as err:
        log.error("%s", err)
        return 1
    return 0
