"""Spark's Kafka connector (and any login module jar): resolved through Ivy once, then loaded from
its jars.

The first start asks Ivy for the packages (KAFKA_CONNECTOR, plus Amazon's IAM login module for
AWS_MSK_IAM) and their dependencies, from Maven Central only (ivysettings.xml says why), into
IVY_DIR. Ivy runs in a JVM of its own, Spark's own resolution (`spark.jars.packages`) without
starting Spark, so that its messages can be kept in IVY_DIR/resolve.log and a failure named in one
line: ConnectorUnavailableError, with the artifact that could not be had (SparkUnavailableError
when that JVM does not even start: no Java).

The jars Ivy resolved are listed in IVY_DIR/<packages>.jars; every start hands exactly those files to
Spark (`spark.jars`) and, once they are there, never asks a repository again. A list whose jars are
not all there any more is ignored, and Ivy resolves again. The list is named after the packages and
their versions, so a version bump resolves anew.
"""

from __future__ import annotations

import fcntl
import logging
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyspark
from pyspark import SparkConf
from pyspark.errors import PySparkRuntimeError
from pyspark.java_gateway import launch_gateway

from tickets_job.atomic_file import replace_file
from tickets_job.errors import ConnectorUnavailableError, SparkUnavailableError

SCALA_VERSION = "2.13"
KAFKA_CONNECTOR = f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_VERSION}:{pyspark.__version__}"
# Never resolved: the AWS SDK's whole `bundle` jar (686 MB), which hadoop-aws asks for; the job
# asks for the SDK modules S3A needs instead (tickets_job.storage.S3A_PACKAGES).
EXCLUDED = ("software.amazon.awssdk:bundle",)
IVY_SETTINGS = Path(__file__).with_name("ivysettings.xml")
RESOLVE_LOG = "resolve.log"
IVY_STARTED = ":: resolving dependencies ::"  # in the messages once Ivy runs
# Ivy's own summary of what failed: "[download failed: commons-logging#commons-logging;1.2!commons-
# logging.jar]" or "[unresolved dependency: org.apache.spark#spark-sql-kafka-0-10_2.13;9.9.9: not found]".
IVY_PROBLEM = re.compile(r"(download failed|unresolved dependency): ([^\s\]]+)")

log = logging.getLogger(__name__)


def manifest(ivy_dir: Path, extras: tuple[str, ...] = ()) -> Path:
    """IVY_DIR/<group>_<artifact>-<version>[+<artifact>-<version>...].jars for the connector and `extras`."""
    group, artifact, version = KAFKA_CONNECTOR.split(":")
    name = f"{group}_{artifact}-{version}" + "".join("+{1}-{2}".format(*extra.split(":")) for extra in extras)
    return ivy_dir / f"{name}.jars"


def resolved_jars(ivy_dir: Path, extras: tuple[str, ...] = ()) -> list[Path] | None:
    """The jars of an earlier resolution of the connector and `extras`, if all are still in IVY_DIR."""
    listed = manifest(ivy_dir, extras)
    if not listed.is_file():
        return None
    jars = [ivy_dir / "jars" / name for name in listed.read_text().split()]
    return jars if jars and all(jar.is_file() for jar in jars) else None


def remember_jars(ivy_dir: Path, spark_jars: str, extras: tuple[str, ...] = ()) -> None:
    """List the jars of Spark's `spark.jars` (file: URLs or paths) that Ivy put into IVY_DIR/jars."""
    jars_dir = (ivy_dir / "jars").resolve()
    names = []
    for entry in filter(None, spark_jars.split(",")):
        path = Path(unquote(urlparse(entry).path) if "://" in entry else entry).resolve()
        if path.parent == jars_dir:
            names.append(path.name)
    if names:
        replace_file(manifest(ivy_dir, extras), "\n".join(sorted(names)) + "\n")


def ivy_conf(ivy_dir: Path, packages: tuple[str, ...]) -> dict[str, str]:
    """Spark's settings for resolving `packages` into `ivy_dir` from Maven Central alone."""
    return {
        "spark.jars.packages": ",".join(packages),
        "spark.jars.excludes": ",".join(EXCLUDED),
        "spark.jars.ivy": str(ivy_dir.resolve()),
        "spark.jars.ivySettings": str(IVY_SETTINGS),
    }


def unresolved(ivy_messages: str, packages: tuple[str, ...]) -> str:
    """What Ivy could not have, in one phrase: its own words when it gave them, else the packages."""
    if problem := IVY_PROBLEM.search(ivy_messages):
        return f"{problem[1]}: {problem[2]}"
    return "could not resolve " + ", ".join(packages)


def last_lines(messages: str, count: int = 3, limit: int = 300) -> str:
    """A program's last lines as one: a failed JVM's last words say why (no java, no memory)."""
    return " | ".join(line.strip() for line in messages.strip().splitlines()[-count:])[-limit:]


def resolve_jars(ivy_dir: Path, extras: tuple[str, ...] = ()) -> list[Path]:
    """The jars of the connector and `extras`: remembered ones, else resolved now (see above).
    Jobs that share IVY_DIR and start together resolve one at a time: the next finds the jars."""
    if (jars := resolved_jars(ivy_dir, extras)) is not None:
        return jars
    ivy_dir.mkdir(parents=True, exist_ok=True)
    with (ivy_dir / ".resolve.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return resolved_jars(ivy_dir, extras) or resolve(ivy_dir, extras)


def resolve(ivy_dir: Path, extras: tuple[str, ...]) -> list[Path]:
    """Ask Ivy for the connector and `extras`, remember the jars it resolved, return them."""
    packages = (KAFKA_CONNECTOR, *extras)
    log.info("resolving %s through Ivy into %s (once)", ", ".join(packages), ivy_dir)
    conf = SparkConf(loadDefaults=False).setAll(ivy_conf(ivy_dir, packages).items())
    with (ivy_dir / RESOLVE_LOG).open("w+b") as messages:
        try:
            # spark-submit resolves before it starts the gateway, and records the jars in spark.jars.
            gateway = launch_gateway(conf, popen_kwargs={"stdout": messages, "stderr": messages})
        except PySparkRuntimeError:
            messages.seek(0)
            said = messages.read().decode("utf-8", "replace")
            if IVY_STARTED not in said:  # no Ivy: its JVM did not start
                where = ivy_dir / RESOLVE_LOG
                raise SparkUnavailableError(
                    f"{last_lines(said)} (to resolve the Kafka connector; its messages: {where})"
                ) from None
            raise ConnectorUnavailableError(
                f"the Kafka connector cannot be resolved: {unresolved(said, packages)} "
                f"(Ivy's messages: {ivy_dir / RESOLVE_LOG})"
            ) from None
        try:
            spark_jars = gateway.jvm.java.lang.System.getProperty("spark.jars") or ""
        finally:
            gateway.shutdown()
            gateway.proc.stdin.close()  # the gateway JVM exits when its stdin closes
            gateway.proc.wait(timeout=60)
    remember_jars(ivy_dir, spark_jars, extras)
    if (jars := resolved_jars(ivy_dir, extras)) is None:
        raise ConnectorUnavailableError(
            f"the Kafka connector cannot be resolved: Ivy put no jar into {ivy_dir / 'jars'} "
            f"for {', '.join(packages)}"
        )
    log.info("resolved %d jars into %s", len(jars), ivy_dir / "jars")
    return jars
