"""End-to-end fixtures: one real Kafka broker for the session, a fresh topic and folder per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickets_job.connector import resolve_jars
from tickets_job.session import java_packages
from tickets_job.settings import Settings
from tickets_local.brokers import Broker
from tickets_local.process import ROOT
from tickets_local.s3 import S3Server

# Ports of the tests' own broker, so that a broker started with `make broker-up` is left alone
# (TEST_KAFKA_PORT: another, to run the suites of two checkouts at once). Under pytest-xdist
# (`make test` runs two workers) each worker has a broker of its own, ten ports further on.
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
TEST_BROKER_PORT = int(os.environ.get("TEST_KAFKA_PORT", "19392")) + 10 * WORKER


@pytest.fixture(scope="session", autouse=True)
def jars_in_ivy() -> None:
    """Spark's packages in ivy/ before the first job starts, as the jobs ask for them: with the lake
    off, on local disk, on S3. On a fresh clone the first start would otherwise fetch them inside
    its test's time-out (one worker fetches, the other waits on the lock; test_connector.py tests
    the first start itself, in an Ivy folder of its own)."""
    for lake in ("off", "data/lake", "s3a://bucket/lake"):
        resolve_jars(ROOT / "ivy", java_packages(Settings.from_env({"LAKE_URI": lake})))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker(port=TEST_BROKER_PORT, state_dir=tmp_path_factory.mktemp("kafka"))
    broker.up(timeout=600)  # the first start may fetch Kafka with mvn
    yield broker
    broker.kafka_sh("down")


@pytest.fixture
def topic(broker: Broker) -> str:
    return broker.create_topic()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """S3Proxy on loopback with a bucket of its own (tickets_local.s3), five ports after the broker."""
    server = S3Server(port=TEST_BROKER_PORT + 5, state_dir=tmp_path_factory.mktemp("s3"))
    server.up()  # the first start may fetch S3Proxy with mvn
    yield server
    server.stop()
