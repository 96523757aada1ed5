"""Which of the job's failures (tickets_job.errors) a failed query is, with the line that says why.

A failed query is sorted by the types of the exceptions in its cause chain and in that of the
exception the sink raised, if it raised one (the Java classes that Py4J reports, and Spark's error
conditions), never by searching the message text: the topic ending before the checkpoint's position
(KAFKA_DATA_LOSS: deleted or recreated), Kafka refusing the job, or the sink's own failure.
"""

from __future__ import annotations

from pyspark.errors import StreamingQueryException

from tickets_job.checkpoint import RESET_ADVICE
from tickets_job.errors import (
    CheckpointInUseError,
    DeadLetterError,
    JobError,
    KafkaRefusedError,
    MissingCountsError,
    QueryFailedError,
    TopicRecreatedError,
)
from tickets_job.java_errors import Cause, causes
from tickets_job.settings import Settings
from tickets_kafka.probe import diagnose, tls_mismatch
from tickets_kafka.settings import ConfigError

KAFKA = "org.apache.kafka.common.errors."
NOT_PERMITTED = {KAFKA + "TopicAuthorizationException", KAFKA + "GroupAuthorizationException"}
MECHANISM_REFUSED = KAFKA + "UnsupportedSaslMechanismException"
LOGIN_REFUSED = KAFKA + "SaslAuthenticationException"
TLS_REFUSED = {KAFKA + "SslAuthenticationException", "javax.net.ssl.SSLHandshakeException"}

# What can stop the job before its query starts: each knows its exit code (exit_code).
STARTUP_FAILURES = (ConfigError, JobError)


def refuse_tls_mismatch(settings: Settings) -> None:
    """A TLS setting the broker does not share fails here, in one line, rather than after Spark's
    start and a minute of the Kafka client's retries (an unreachable broker is waited for)."""
    if (mismatch := tls_mismatch(settings.servers, settings.security)) is not None:
        raise KafkaRefusedError(f"Kafka at {settings.bootstrap_servers} refuses the job: {mismatch}")


def classify(err: StreamingQueryException, settings: Settings, sink_failure: Exception | None) -> JobError:
    """What stopped a query that failed with `err` (the sink's own failure, if it raised one, is the
    first thing looked at), as the error the job exits with."""
    if isinstance(sink_failure, MissingCountsError):
        return MissingCountsError(
            f"the checkpoint in {settings.checkpoint_dir} is incomplete: {sink_failure}; {RESET_ADVICE}"
        )
    if isinstance(sink_failure, (TopicRecreatedError, CheckpointInUseError)):
        return sink_failure
    if isinstance(sink_failure, DeadLetterError):
        return DeadLetterError(f"{sink_failure}; nothing of that micro-batch was counted")
    chain = [*causes(err), *causes(sink_failure)]
    for cause in chain:
        if cause.condition and cause.condition.startswith("KAFKA_DATA_LOSS"):
            at = cause.parameters or {}
            position = (
                f"partition {at['topicPartition']} at {at['newOffset']}, checkpoint at {at['prevOffset']}"
                if {"topicPartition", "prevOffset", "newOffset"} <= at.keys()
                else cause.message
            )
            return TopicRecreatedError(
                f"topic {settings.topic!r} ends before the checkpoint's position ({position}): the topic "
                "was deleted or recreated (as `docker compose down -v` does) while CHECKPOINT_DIR kept "
                f"the old position; {RESET_ADVICE}"
            )
    if (refusal := refused_by_kafka(chain, settings)) is not None:
        return KafkaRefusedError(f"Kafka at {settings.bootstrap_servers} refuses the job: {refusal}")
    return QueryFailedError(
        f"the query failed: {err}; if the query changed since the checkpoint was written, {RESET_ADVICE}"
    )


def refused_by_kafka(chain: list[Cause], settings: Settings) -> str | None:
    """Why Kafka refused the job, when one of the causes says it did: its TLS handshake, its
    login, or its permission to read the topic; None for any other failure."""
    by_class = {cause.java_class: cause for cause in chain}
    if NOT_PERMITTED & by_class.keys():
        return (
            f"{settings.security.describe()} may not read topic {settings.topic!r} (topic authorization "
            "failed): grant the user READ on the topic (an ACL), or use the user that has it"
        )
    if (cause := by_class.get(MECHANISM_REFUSED)) is not None:
        return (
            f"the broker does not offer the login the job asks for ({cause.message}): "
            "check KAFKA_SASL_MECHANISM"
        )
    if (cause := by_class.get(LOGIN_REFUSED)) is not None:
        return diagnose(settings.servers, settings.security, cause.message or None)
    if TLS_REFUSED & by_class.keys():
        return tls_mismatch(settings.servers, settings.security) or "the TLS handshake failed"
    return None
