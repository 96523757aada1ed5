"""The Kafka connector's jars: remembered after Ivy resolved them, used while they are all there."""

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
