"""The dead-letter records (tickets_job.deadletter) as Spark's Kafka sink would write them."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tickets_job.deadletter import (
    KEY_LIMIT,
    MAX_RECORD_BYTES,
    VALUE_LIMIT,
    dead_letter_records,
    positions,
    printable_column,
)
from tickets_job.export import UNSAFE, printable

KAFKA_COLUMNS = "key binary, value binary, topic string, partition int, offset long, reason string"


def records(spark: SparkSession, messages: list[tuple[bytes | None, bytes | None]]) -> list[dict]:
    """Rejected Kafka messages at offsets 0.. of partition 2 as dead letters of batch 5: each as
    {"key", "value", "headers": {name: value}}."""
    rejected = spark.createDataFrame(
        [(key, value, "t", 2, offset, "unknown type 'X'") for offset, (key, value) in enumerate(messages)],
        KAFKA_COLUMNS,
    )
    rows = dead_letter_records(rejected, 5).orderBy("key").collect()
    return [
        {"key": row["key"], "value": row["value"], "headers": {h["key"]: h["value"] for h in row["headers"]}}
        for row in rows
    ]


def test_a_dead_letter_carries_its_origin_and_its_own_key(spark):
    [record] = records(
        spark, [(b"id-1", b'{"ticket_id":"a","type":"X","created_at":"2026-01-01T00:00:00Z"}')]
    )
    assert record["key"] == b"t-2-0"
    assert record["value"] == b'{"ticket_id":"a","type":"X","created_at":"2026-01-01T00:00:00Z"}'
    assert record["headers"] == {
        "dlq.reason": b"unknown type 'X'",
        "dlq.topic": b"t",
        "dlq.partition": b"2",
        "dlq.offset": b"0",
        "dlq.batch": b"5",
        "dlq.value_bytes": b"64",
        "dlq.key": b"id-1",
    }


def test_a_null_value_is_an_empty_record_with_a_header_never_a_tombstone(spark):
    [record] = records(spark, [(None, None)])
    assert record["value"] == b""
    assert record["headers"]["dlq.value_null"] == b"true"
    assert record["headers"]["dlq.value_bytes"] == b"0"
    assert "dlq.key" not in record["headers"] and "dlq.truncated" not in record["headers"]


@pytest.mark.parametrize(
    ("key_bytes", "value_bytes", "cut"),
    [(10, VALUE_LIMIT + 1, b"value"), (KEY_LIMIT + 1, 10, b"key"), (KEY_LIMIT * 3, 3_000_000, b"key,value")],
)
def test_what_is_too_large_is_cut_to_its_limit_and_says_so(spark, key_bytes, value_bytes, cut):
    [record] = records(spark, [(b"k" * key_bytes, b"x" * value_bytes)])
    assert record["value"] == b"x" * min(value_bytes, VALUE_LIMIT)
    assert record["headers"]["dlq.key"] == b"k" * min(key_bytes, KEY_LIMIT)
    assert record["headers"]["dlq.value_bytes"] == str(value_bytes).encode()
    assert record["headers"]["dlq.truncated"] == cut
    size = (
        len(record["key"]) + len(record["value"]) + sum(len(k) + len(v) for k, v in record["headers"].items())
    )
    assert size < MAX_RECORD_BYTES - 1024


def test_a_record_at_the_limits_is_not_cut(spark):
    [record] = records(spark, [(b"k" * KEY_LIMIT, b"x" * VALUE_LIMIT)])
    assert "dlq.truncated" not in record["headers"]
    assert len(record["value"]) == VALUE_LIMIT and len(record["headers"]["dlq.key"]) == KEY_LIMIT


def test_the_reason_header_escapes_what_the_quarantine_escapes(spark):
    """Every unsafe character, and a few safe ones, escaped by Spark exactly as by printable()."""
    text = "".join(chr(code) for code in UNSAFE) + "plain é ✓ \\u0000 '\""
    [row] = spark.createDataFrame([(text,)], "text string").select(printable_column(F.col("text"))).collect()
    assert row[0] == printable(text)
    [row] = (
        spark.createDataFrame([("safe é",)], "text string").select(printable_column(F.col("text"))).collect()
    )
    assert row[0] == "safe é"


def test_the_rejected_messages_are_read_again_from_their_partitions_first_to_last_offset():
    rejects = [{"topic": "t", "partition": p, "offset": o} for p, o in ((0, 7), (2, 3), (0, 4), (0, 9))]
    assert positions(rejects) == ("t", {"0": 4, "2": 3}, {"0": 10, "2": 4})
