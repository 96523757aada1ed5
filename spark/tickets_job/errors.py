"""Why the job stops: one exception type per reason, each knowing the exit code it ends the job with.

EXIT_CODES says what each code means; `python -m tickets_job --help` prints it, and
docs/OPERATIONS.md holds the same table (a unit test compares them). tickets_job.failures sorts a
failed query into these types; a failure before the query starts is raised as one of them (or as
tickets_kafka.settings.ConfigError, exit 2, as in the producer).
"""

from __future__ import annotations

from typing import ClassVar

EXIT_CODES = {
    0: "stopped by SIGTERM or Ctrl-C after the running micro-batch, or drained (--bounded)",
    1: "the query failed for another reason; the line says why",
    2: "refused: bad configuration or flags, the Kafka connector cannot be resolved (the line names the "
    "artifact), Kafka refuses the job (TLS, login, READ on the topic), the dead-letter topic does not "
    "take the rejected messages, an s3a:// location cannot be used, or Spark cannot start (no Java)",
    3: "the checkpoint cannot be resumed: another version of the query wrote it, it is incomplete, "
    "another job holds it, or it was read from another topic of the same name",
}


class JobError(RuntimeError):
    """A reason for the job to stop; the message is the one line an operator acts on."""

    exit_code: ClassVar[int] = 1


class QueryFailedError(JobError):
    """The query failed for a reason none of the other types names."""


class RefusedError(JobError):
    """Something the job needs refuses it; nothing is counted until that is fixed."""

    exit_code = 2


class SparkUnavailableError(RefusedError):
    """Spark's JVM did not start (no Java, too little memory); `why` is what it said."""

    def __init__(self, why: str) -> None:
        super().__init__(f"Spark did not start: {why} Is Java 17 on the PATH or in JAVA_HOME?")


class KafkaRefusedError(RefusedError):
    """Kafka refuses the job: the TLS handshake, the login, or READ on the topic."""


class ConnectorUnavailableError(RefusedError):
    """Ivy could not resolve a package or one of its dependencies; the message names it."""


class DeadLetterError(RefusedError):
    """The dead-letter topic cannot take the rejected messages; nothing of the batch is counted."""


class StorageError(RefusedError):
    """A location cannot be used (no such bucket, credentials refused, store unreachable); the message
    names the setting and never a secret."""


class CheckpointError(JobError):
    """The checkpoint cannot be resumed exactly; the message names the reset command."""

    exit_code = 3


class IncompatibleCheckpointError(CheckpointError):
    """The checkpoint was written by another version of the query."""


class TopicRecreatedError(CheckpointError):
    """The topic is not the one the checkpoint was read from (deleted and created again since)."""


class CheckpointInUseError(CheckpointError):
    """Another job holds the checkpoint (or took it over from this one); the message names it."""


class MissingCountsError(CheckpointError):
    """The counts of the previous batch are gone from the checkpoint: the job cannot go on exactly."""
