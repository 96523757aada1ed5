"""The Kafka connector's resolution: once, from Maven Central only, whatever ~/.m2 holds; and a
resolution that fails names the artifact in one line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyspark
import pytest

from tests.harness import copy_ivy, produce, read_counts
from tickets_job.connector import KAFKA_CONNECTOR, RESOLVE_LOG, ConnectorUnavailableError, resolve_jars
from tickets_job.storage import S3A_PACKAGES
from tickets_job.tables import DELTA_SPARK
from tickets_local.jobs import Job, job_env
from tickets_local.process import ROOT

pytestmark = pytest.mark.e2e

# A dependency of the connector (the jar the first start fetches with it).
POOL = ("org.apache.commons", "commons-pool2", "2.13.1")


def warm_ivy(ivy: Path, without: tuple[str, str, str] | None = None) -> None:
    """The repository's Ivy cache (as after any earlier run), without one artifact if asked."""
    if (ROOT / "ivy" / "cache").is_dir():
        copy_ivy(ROOT / "ivy" / "cache", ivy / "cache")
    if without is not None:
        shutil.rmtree(ivy / "cache" / without[0] / without[1], ignore_errors=True)


def test_the_connector_is_resolved_once_then_loaded_from_its_jars(broker, topic, tmp_path):
    ivy = tmp_path / "ivy"
    warm_ivy(ivy)
    # A throwaway IVY_DIR: no class archive for it (writing one makes the stop 25 s longer).
    env = job_env(broker, topic, tmp_path, BOUNDED="true", IVY_DIR=str(ivy), CLASS_ARCHIVE="false")
    produce(broker, topic, 20, seed=15)
    first = Job(env, tmp_path / "first.log").start()
    assert first.wait() == 0, first.log()[-3000:]
    assert f"resolving {KAFKA_CONNECTOR} through Ivy" in first.log()  # the lake off (job_env)
    assert ":: resolving dependencies ::" in (ivy / RESOLVE_LOG).read_text()
    second = Job(env, tmp_path / "second.log").start()
    assert second.wait() == 0
    assert "through Ivy" not in second.log(), "the second start asked Ivy again"
    assert sum(read_counts(tmp_path / "output").values()) == 20


def test_a_pom_without_its_jar_in_m2_does_not_stop_the_first_start(broker, topic, tmp_path):
    """Maven leaves poms without jars in ~/.m2; Spark's default resolvers trusted them."""
    home = tmp_path / "home"
    group, artifact, version = POOL
    planted = home / ".m2" / "repository" / group.replace(".", "/") / artifact / version
    planted.mkdir(parents=True)
    (planted / f"{artifact}-{version}.pom").write_text(
        "<project><modelVersion>4.0.0</modelVersion>"
        f"<groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></project>"
    )
    ivy = tmp_path / "ivy"
    warm_ivy(ivy, without=POOL)
    env = job_env(
        broker,
        topic,
        tmp_path,
        BOUNDED="true",
        IVY_DIR=str(ivy),
        CLASS_ARCHIVE="false",
        HOME=str(home),
        SPARK_SUBMIT_OPTS=f"-Duser.home={home}",  # the JVM takes its home from here, not from HOME
    )
    produce(broker, topic, 10, seed=16)
    job = Job(env, tmp_path / "job.log").start()
    assert job.wait() == 0, job.log()[-3000:]
    assert (ivy / "jars" / f"{group}_{artifact}-{version}.jar").is_file()
    assert sum(read_counts(tmp_path / "output").values()) == 10


def test_a_package_that_cannot_be_resolved_is_named_in_one_line(tmp_path):
    missing = "org.example.tickets:no-such-artifact:0.0.1"
    with pytest.raises(ConnectorUnavailableError) as error:
        resolve_jars(tmp_path / "ivy", extras=(missing,))
    message = str(error.value)
    assert message.startswith("the Kafka connector cannot be resolved: "), message
    assert "unresolved dependency: org.example.tickets#no-such-artifact;0.0.1" in message
    assert "\n" not in message
    assert str(tmp_path / "ivy" / RESOLVE_LOG) in message


def test_delta_and_s3a_resolve_and_delta_is_built_for_the_installed_spark():
    """The pins held together by the artifacts themselves: the Delta pom Ivy resolved declares the
    Spark that pyspark is, and the lake's packages resolve without the AWS SDK's bundle jar."""
    ivy = ROOT / "ivy"
    jars = resolve_jars(ivy, (DELTA_SPARK, *S3A_PACKAGES))
    group, artifact, version = DELTA_SPARK.split(":")
    pom = (ivy / "cache" / group / artifact / f"ivy-{version}.xml").read_text()
    [spark] = re.findall(r'<dependency org="org.apache.spark" name="spark-sql_2.13" rev="([^"]+)"', pom)
    assert spark == pyspark.__version__
    names = {jar.name for jar in jars}
    assert {f"io.delta_delta-spark_2.13-{version}.jar", "org.apache.hadoop_hadoop-aws-3.5.0.jar"} <= names
    assert not any(name.startswith("software.amazon.awssdk_bundle") for name in names)
