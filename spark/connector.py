"""Spark's Kafka connector (and any login module jar), resolved through Ivy once, then loaded from
its jars.

The first start asks Ivy for the packages (`spark.jars.packages`: KAFKA_CONNECTOR, plus Amazon's
IAM login module for AWS_MSK_IAM), which downloads them and their dependencies into IVY_DIR/jars;
asked again, Ivy would resolve again on every start (under a second on a warm cache here). The jars
Ivy resolved are listed in IVY_DIR/<packages>.jars; later starts hand exactly those files to Spark
(`spark.jars`) and never ask a repository. A list whose jars are not all there any more is
ignored, and Ivy resolves again. The list is named after the packages and their versions, so a
version bump resolves anew.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import pyspark
from export import replace_file

SCALA_VERSION = "2.13"
KAFKA_CONNECTOR = f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_VERSION}:{pyspark.__version__}"


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
