"""Why the job stopped, as an exit code and one line an operator can act on.

Before the query starts, each refusal is an exception of its own type, mapped to its code by
`exit_code`: ConfigError and KafkaRefusedError (a TLS mismatch seen by the probe),
ConnectorUnavailableError and DeadLetterError (the dead-letter topic missing) exit 2,
IncompatibleCheckpointError exits 3.

A failed query is sorted by the types of the exceptions in its cause chain and in that of the
exception the sink raised, if it raised one (the Java classes that Py4J reports, and Spark's error
conditions), never by searching the message text:

    exit 3  the checkpoint cannot be resumed: the topic ends before it (KAFKA_DATA_LOSS: the topic
            was deleted or recreated), the topic has another ID than the one the checkpoint was
            read from (TopicRecreatedError: recreated, whatever its length), or the counts of the
            previous batch are gone
    exit 2  Kafka refuses the job: the TLS handshake, the login, or READ on the topic; or the
            dead-letter topic does not take the batch's rejected messages (DeadLetterError)
    exit 1  any other failure of the query
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.errors import StreamingQueryException

from tickets_job.checkpoint import RESET_ADVICE, IncompatibleCheckpointError, TopicRecreatedError
from tickets_job.connector import ConnectorUnavailableError
from tickets_job.deadletter import DeadLetterError
from tickets_job.java_errors import Cause, causes
from tickets_job.settings import Settings
from tickets_job.sink import MissingCountsError
from tickets_kafka.probe import diagnose, tls_mismatch
from tickets_kafka.settings import ConfigError

EXIT_FAILED = 1
EXIT_REFUSED = 2  # also: bad configuration, or the connector cannot be resolved
EXIT_CHECKPOINT = 3

KAFKA = "org.apache.kafka.common.errors."
NOT_PERMITTED = {KAFKA + "TopicAuthorizationException", KAFKA + "GroupAuthorizationException"}
MECHANISM_REFUSED = KAFKA + "UnsupportedSaslMechanismException"
LOGIN_REFUSED = KAFKA + "SaslAuthenticationException"
TLS_REFUSED = {KAFKA + "SslAuthenticationException", "javax.net.ssl.SSLHandshakeException"}


class KafkaRefusedError(RuntimeError):
    """Kafka refuses the job before it starts (a TLS mismatch); the message says why."""


# What can stop the job before its query starts, and the exit code of each.
STARTUP_FAILURES: dict[type[Exception], int] = {
    ConfigError: EXIT_REFUSED,
    KafkaRefusedError: EXIT_REFUSED,
    ConnectorUnavailableError: EXIT_REFUSED,
    DeadLetterError: EXIT_REFUSED,
    IncompatibleCheckpointError: EXIT_CHECKPOINT,
}


def exit_code(err: Exception) -> int:
    """The exit code of a failure before the query starts (one of STARTUP_FAILURES)."""
    return next(code for kind, code in STARTUP_FAILURES.items() if isinstance(err, kind))


def refuse_tls_mismatch(settings: Settings) -> None:
    """A TLS setting the broker does not share fails here, in one line, rather than after Spark's
    start and a minute of the Kafka client's retries (an unreachable broker is waited for)."""
    if (mismatch := tls_mismatch(settings.bootstrap_servers, settings.security)) is not None:
        raise KafkaRefusedError(f"Kafka at {settings.bootstrap_servers} refuses the job: {mismatch}")


@dataclass(frozen=True)
class Failure:
    code: int
    message: str


def classify(err: StreamingQueryException, settings: Settings, sink_failure: Exception | None) -> Failure:
    """The exit code and line for a query that failed with `err` (the sink's own failure, if it
    raised one, is the first thing looked at)."""
    if isinstance(sink_failure, MissingCountsError):
        return Failure(
            EXIT_CHECKPOINT,
            f"the checkpoint in {settings.checkpoint_dir} is incomplete: {sink_failure}; {RESET_ADVICE}",
        )
    if isinstance(sink_failure, TopicRecreatedError):
        return Failure(EXIT_CHECKPOINT, str(sink_failure))
    if isinstance(sink_failure, DeadLetterError):
        return Failure(EXIT_REFUSED, f"{sink_failure}; nothing of that micro-batch was counted")
    chain = [*causes(err), *causes(sink_failure)]
    for cause in chain:
        if cause.condition and cause.condition.startswith("KAFKA_DATA_LOSS"):
            at = cause.parameters or {}
            position = (
                f"partition {at['topicPartition']} at {at['newOffset']}, checkpoint at {at['prevOffset']}"
                if {"topicPartition", "prevOffset", "newOffset"} <= at.keys()
                else cause.message
            )
            return Failure(
                EXIT_CHECKPOINT,
                f"topic {settings.topic!r} ends before the checkpoint's position ({position}): the topic "
                "was deleted or recreated (as `docker compose down -v` does) while CHECKPOINT_DIR kept "
                f"the old position; {RESET_ADVICE}",
            )
    if (refusal := refused_by_kafka(chain, settings)) is not None:
        return Failure(EXIT_REFUSED, f"Kafka at {settings.bootstrap_servers} refuses the job: {refusal}")
    return Failure(
        EXIT_FAILED,
        f"the query failed: {err}; if the query changed since the checkpoint was written, {RESET_ADVICE}",
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
        return diagnose(settings.bootstrap_servers, settings.security, cause.message or None)
    if TLS_REFUSED & by_class.keys():
        return tls_mismatch(settings.bootstrap_servers, settings.security) or "the TLS handshake failed"
    return None
