"""The Kafka connector's jars: remembered after Ivy resolved them, used while they are all there."""

from tests.harness import copy_ivy
from tickets_job.connector import KAFKA_CONNECTOR, manifest, remember_jars, resolved_jars


def test_nothing_is_remembered_before_a_resolution(tmp_path):
    assert resolved_jars(tmp_path) is None


def test_the_jars_ivy_resolved_are_used_next_time(tmp_path):
    (tmp_path / "jars").mkdir()
    for name in ("kafka-clients.jar", "connector.jar"):
        (tmp_path / "jars" / name).write_bytes(b"PK")
    jars = tmp_path / "jars"
    remember_jars(tmp_path, f"file://{jars}/connector.jar,file://{jars}/kafka-clients.jar,/elsewhere/app.jar")
    assert manifest(tmp_path).name == KAFKA_CONNECTOR.replace(":", "_", 1).replace(":", "-") + ".jars"
    assert resolved_jars(tmp_path) == [jars / "connector.jar", jars / "kafka-clients.jar"]


def test_a_missing_jar_sends_the_next_start_back_to_ivy(tmp_path):
    (tmp_path / "jars").mkdir()
    (tmp_path / "jars" / "connector.jar").write_bytes(b"PK")
    remember_jars(tmp_path, f"{tmp_path}/jars/connector.jar")
    assert resolved_jars(tmp_path) is not None
    (tmp_path / "jars" / "connector.jar").unlink()
    assert resolved_jars(tmp_path) is None


def test_the_tests_copy_of_an_ivy_directory_in_use_skips_what_a_resolution_deletes(tmp_path):
    """What CI met: a start resolving into ivy/ while a test copied it (a report gone mid-copy)."""
    source = tmp_path / "ivy"
    (source / "cache" / "org.apache.kafka" / "kafka-clients").mkdir(parents=True)
    (source / "cache" / "org.apache.kafka" / "kafka-clients" / "ivy-4.1.1.xml").write_text("<ivy-module/>")
    (source / "cache" / "resolved-org.apache.spark-spark-submit-parent-7fb3-1.0.xml").write_text("<ivy/>")
    (source / "cache" / "gone.xml").symlink_to(source / "cache" / "deleted-after-the-listing.xml")
    (source / "class-archive").mkdir()
    copy_ivy(source, tmp_path / "copy", skip=("class-archive",))
    kept = tmp_path / "copy" / "cache" / "org.apache.kafka" / "kafka-clients" / "ivy-4.1.1.xml"
    assert [path for path in (tmp_path / "copy").rglob("*") if path.is_file()] == [kept]
