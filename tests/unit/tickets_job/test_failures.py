"""tickets_job.failures: a failed query sorted into the job's error types by the types of its
causes (monkeypatched here: the Java chain Py4J would report), never by its message's words."""

from __future__ import annotations

import pytest

from tickets_job import failures
from tickets_job.errors import (
    CheckpointInUseError,
    DeadLetterError,
    KafkaRefusedError,
    MissingCountsError,
    QueryFailedError,
    TopicRecreatedError,
)
from tickets_job.java_errors import Cause
from tickets_job.settings import Settings

SETTINGS = Settings.from_env({"KAFKA_TOPIC": "client_tickets", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"})
QUERY_FAILED = RuntimeError("Query client_tickets terminated with exception")


def with_causes(monkeypatch: pytest.MonkeyPatch, *chain: Cause) -> None:
    monkeypatch.setattr(failures, "causes", lambda err: iter(chain) if err is QUERY_FAILED else iter(()))


def test_the_sinks_own_failure_comes_first_and_keeps_its_code(monkeypatch):
    with_causes(monkeypatch, Cause("org.apache.kafka.common.errors.TopicAuthorizationException", "no"))
    missing = failures.classify(QUERY_FAILED, SETTINGS, MissingCountsError("batch 6's counts are gone"))
    assert isinstance(missing, MissingCountsError) and missing.exit_code == 3
    assert "batch 6's counts are gone" in str(missing) and "make clean" in str(missing)
    taken = CheckpointInUseError("taken over by job 2")
    assert failures.classify(QUERY_FAILED, SETTINGS, taken) is taken
    dead = failures.classify(QUERY_FAILED, SETTINGS, DeadLetterError("client_tickets.dlq does not exist"))
    assert isinstance(dead, DeadLetterError) and dead.exit_code == 2
    assert str(dead).endswith("nothing of that micro-batch was counted")


def test_a_topic_that_ends_before_the_checkpoint_is_a_recreated_topic(monkeypatch):
    loss = Cause(
        "org.apache.spark.SparkIllegalStateException",
        "some offsets were lost",
        "KAFKA_DATA_LOSS.PARTITION_OFFSET_CHANGED",
        {"topicPartition": "client_tickets-0", "prevOffset": "200", "newOffset": "0"},
    )
    with_causes(monkeypatch, Cause("org.apache.spark.sql.streaming.StreamingQueryException", "x"), loss)
    error = failures.classify(QUERY_FAILED, SETTINGS, None)
    assert isinstance(error, TopicRecreatedError) and error.exit_code == 3
    assert "partition client_tickets-0 at 0, checkpoint at 200" in str(error)


def test_kafka_refusing_the_read_is_exit_2_naming_the_permission(monkeypatch):
    with_causes(monkeypatch, Cause("org.apache.kafka.common.errors.TopicAuthorizationException", "denied"))
    error = failures.classify(QUERY_FAILED, SETTINGS, None)
    assert isinstance(error, KafkaRefusedError) and error.exit_code == 2
    assert "may not read topic 'client_tickets'" in str(error) and "kafka:9092" in str(error)


def test_a_refused_mechanism_names_the_setting(monkeypatch):
    refused = Cause("org.apache.kafka.common.errors.UnsupportedSaslMechanismException", "PLAIN not enabled")
    with_causes(monkeypatch, refused)
    error = failures.classify(QUERY_FAILED, SETTINGS, None)
    assert isinstance(error, KafkaRefusedError) and "KAFKA_SASL_MECHANISM" in str(error)


def test_any_other_failure_is_exit_1_with_the_reset_advice(monkeypatch):
    with_causes(monkeypatch, Cause("java.lang.IllegalStateException", "state store went away"))
    error = failures.classify(QUERY_FAILED, SETTINGS, None)
    assert type(error) is QueryFailedError and error.exit_code == 1
    assert str(QUERY_FAILED) in str(error) and "make clean" in str(error)


def test_the_refusal_words_alone_do_not_make_a_refusal(monkeypatch):
    # The text of a message never decides: an authorization word in another class is exit 1.
    with_causes(monkeypatch, Cause("java.lang.RuntimeException", "TopicAuthorizationException: not really"))
    assert type(failures.classify(QUERY_FAILED, SETTINGS, None)) is QueryFailedError
