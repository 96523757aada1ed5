"""The Java exceptions behind a failure that reached Python through Py4J, read as data (classes,
Spark's error conditions), never by searching a message's text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from py4j.java_gateway import is_instance_of
from pyspark import SparkContext


@dataclass(frozen=True)
class Cause:
    """One exception of the Java cause chain: its class, its own message, Spark's condition."""

    java_class: str
    message: str
    condition: str | None = None
    parameters: dict[str, str] | None = None

    def __str__(self) -> str:
        return f"{self.java_class.rsplit('.', 1)[-1]}: {self.message}"


def causes(err: BaseException | None) -> Iterator[Cause]:
    """The Java exceptions behind `err`, outermost first: a failed query's, or one that a Spark
    action in the sink raised (pyspark's own exceptions keep it as _origin, Py4J's as java_exception)."""
    throwable = getattr(err, "_origin", None) or getattr(err, "java_exception", None)
    seen = 0
    while throwable is not None and seen < 50:
        condition, parameters = None, None
        if is_instance_of(SparkContext._gateway, throwable, "org.apache.spark.SparkThrowable"):
            condition = throwable.getCondition()
            parameters = dict(throwable.getMessageParameters() or {})
        yield Cause(throwable.getClass().getName(), throwable.getMessage() or "", condition, parameters)
        throwable, seen = throwable.getCause(), seen + 1


def root_cause(err: BaseException) -> str:
    """The innermost Java exception behind `err` as `SimpleName: message`, or the Python
    exception's own type and message when there is none."""
    innermost = None
    for innermost in causes(err):  # noqa: B007 (the last one is wanted)
        pass
    return str(innermost) if innermost is not None else f"{type(err).__name__}: {err}"
