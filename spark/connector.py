"""Spark's Kafka connector, resolved through Ivy once and then loaded from its jars.

The first start asks Ivy for KAFKA_CONNECTOR (`spark.jars.packages`), which downloads it and its
dependencies into IVY_DIR/jars; asked again, Ivy would resolve again on every start (under a
second on a warm cache here). The jars Ivy resolved are listed in IVY_DIR/<connector>.jars; later
starts hand exactly those files to Spark (`spark.jars`) and never ask a repository. A list
whose jars are not all there any more is ignored, and Ivy resolves again. The list is named after
the connector's version, so a version bump resolves anew.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import pyspark
from export import replace_file

SCALA_VERSION = "2.13"
KAFKA_CONNECTOR = f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_VERSION}:{pyspark.__version__}"


def manifest(ivy_dir: Path) -> Path:
    group, artifact, version = KAFKA_CONNECTOR.split(":")
    return ivy_dir / f"{group}_{artifact}-{version}.jars"


def resolved_jars(ivy_dir: Path) -> list[Path] | None:
    """The connector's jars from an earlier resolution, if every one of them is still in IVY_DIR."""
    listed = manifest(ivy_dir)
    if not listed.is_file():
        return None
    jars = [ivy_dir / "jars" / name for name in listed.read_text().split()]
    return jars if jars and all(jar.is_file() for jar in jars) else None


def remember_jars(ivy_dir: Path, spark_jars: str) -> None:
    """List the jars of Spark's `spark.jars` (file: URLs or paths) that Ivy put into IVY_DIR/jars."""
    jars_dir = (ivy_dir / "jars").resolve()
    names = []
    for entry in filter(None, spark_jars.split(",")):
        path = Path(unquote(urlparse(entry).path) if "://" in entry else entry).resolve()
        if path.parent == jars_dir:
            names.append(path.name)
    if names:
        replace_file(manifest(ivy_dir), "\n".join(sorted(names)) + "\n")
