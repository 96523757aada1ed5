"""The lake's pins and locations (tickets_job.tables, tickets_job.storage), without Spark."""

from __future__ import annotations

import re
from pathlib import Path

import pyspark

from tickets_job.storage import S3A_PACKAGES, LocalFolder
from tickets_job.tables import DELTA_SPARK, SPARK_OF_DELTA

SPARK_JARS = Path(pyspark.__file__).parent / "jars"


def test_delta_is_the_release_built_for_the_installed_spark():
    # The Delta jar's own pom names the Spark it was built against: the Ivy test checks that one.
    assert pyspark.__version__ == SPARK_OF_DELTA
    assert DELTA_SPARK.startswith("io.delta:delta-spark_2.13:")


def test_s3a_is_at_the_hadoop_version_spark_bundles():
    [client_api] = SPARK_JARS.glob("hadoop-client-api-*.jar")
    bundled = re.fullmatch(r"hadoop-client-api-(.+)\.jar", client_api.name)[1]
    assert f"org.apache.hadoop:hadoop-aws:{bundled}" in S3A_PACKAGES
    assert not any(":bundle:" in package for package in S3A_PACKAGES)


def test_a_local_folder_writes_whole_files_and_creates_only_once(tmp_path):
    folder = LocalFolder(tmp_path / "cp")
    assert folder.is_empty() and folder.read_text("a.json") is None
    created = folder.create_text("lease", "one")
    assert created is not None
    assert folder.create_text("lease", "two") is None
    assert folder.read_versioned("lease") == ("one", created)
    replaced = folder.replace_text("lease", "three", created)
    assert replaced is not None and replaced != created
    assert folder.replace_text("lease", "four", created) is None
    assert folder.read_text("lease") == "three"
    assert folder.is_empty(ignoring=("lease",)) and not folder.is_empty()
    folder.delete("lease")
    folder.delete("lease")  # already gone: nothing to do
    assert folder.is_empty()
