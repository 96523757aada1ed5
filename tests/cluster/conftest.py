"""The local cluster of the failure scenarios, on ports of its own (beside `make cluster-up`'s):
three Kafka nodes on 19892, 19894, 19896 and a Spark master on 17177 with two workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tickets_local.brokers import Broker
from tickets_local.spark_cluster import SparkCluster

FIGURES: list[str] = []  # what the scenarios measured, shown at the end of the run


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker(port=19892, state_dir=tmp_path_factory.mktemp("kafka-cluster"), nodes=3)
    broker.up()
    yield broker
    broker.down()


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    cluster = SparkCluster(port=17177, webui_port=18181, state_dir=tmp_path_factory.mktemp("spark-cluster"))
    cluster.up()
    yield cluster
    cluster.down()


@pytest.fixture
def healthy(kafka_cluster: Broker, spark_cluster: SparkCluster) -> Iterator[None]:
    """Every node and worker runs before a scenario, and again after it (restarting what it killed)."""
    kafka_cluster.up()
    spark_cluster.up()
    yield
    kafka_cluster.up()
    spark_cluster.up()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("cluster scenarios")
        for line in FIGURES:
            terminalreporter.write_line(line)
