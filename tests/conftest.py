"""Fixtures shared by every tier: a local SparkSession for the DataFrame functions. And the order of
the test files, the longest first, with the time each took per pytest worker at the end of a run:
`make test`'s two workers take a file at a time, in this order (PYTEST_WORKERS in the Makefile)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from tickets_local.jobs import kill_jobs_left_running


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    # Spark's scratch files and the native libraries its JVM unpacks go to pytest's own temporary
    # folders (it keeps the last three runs): this JVM is killed when the tests end, before it
    # could delete them from /tmp.
    scratch = tmp_path_factory.mktemp("spark-scratch")
    os.environ["SPARK_SUBMIT_OPTS"] = f"-Djava.io.tmpdir={scratch}"  # read when the JVM starts
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.local.dir", str(scratch))
        .appName("client-tickets-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    del os.environ["SPARK_SUBMIT_OPTS"]  # not for the jobs the tests start
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def no_job_outlives_its_test() -> Iterator[None]:
    yield
    kill_jobs_left_running()


# The longest files, longest first (the time each took is printed at the end of a run), so that no
# worker is left with a long one when the other has finished; then the rest in pytest's order.
LONG_FILES_FIRST = (
    "tests/e2e/test_reliability.py",
    "tests/e2e/test_lake.py",
    "tests/e2e/test_commands.py",
    "tests/e2e/test_monitoring.py",
    "tests/e2e/test_security.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONG_FILES_FIRST.index(path) if path in LONG_FILES_FIRST else len(LONG_FILES_FIRST)

    items.sort(key=rank)  # stable: a file's tests stay in their order


FILE_SECONDS: dict[tuple[str, str], float] = defaultdict(float)  # (worker, file): seconds


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    worker = getattr(getattr(report, "node", None), "gateway", None)
    FILE_SECONDS[getattr(worker, "id", "main"), report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FILE_SECONDS:
        return
    terminalreporter.section("seconds per test file")
    for worker in sorted({worker for worker, _ in FILE_SECONDS}):
        files = [(seconds, path) for (where, path), seconds in FILE_SECONDS.items() if where == worker]
        terminalreporter.write_line(f"{worker}: {sum(seconds for seconds, _ in files):.0f} s in all")
        for seconds, path in files:  # in the order the worker ran them
            terminalreporter.write_line(f"  {seconds:7.1f} s {path}")
