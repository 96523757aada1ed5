"""Fixtures shared by every tier: a local SparkSession for the DataFrame functions."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from tests.harness import kill_jobs_left_running


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
