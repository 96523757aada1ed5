"""End-to-end fixtures: one real Kafka broker for the session, a fresh topic and folder per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Broker

# Ports of the tests' own broker, so that a broker started with `make broker-up` is left alone
# (TEST_KAFKA_PORT: another, to run the suites of two checkouts at once). Under pytest-xdist
# (`make test` runs two workers) each worker has a broker of its own, ten ports further on.
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
TEST_BROKER_PORT = int(os.environ.get("TEST_KAFKA_PORT", "19392")) + 10 * WORKER


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
