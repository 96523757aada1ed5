"""parse -> valid -> enrich -> count on a local SparkSession (spark/transforms.py)."""

from datetime import datetime

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual
from tickets import TICKET_TYPES
from transforms import (
    NOT_A_TICKET,
    SUPPORT_TEAMS,
    TICKET_COLUMNS,
    count_by_type,
    enrich,
    parse_tickets,
    valid_tickets,
)

GOOD = (
    '{"ticket_id":"t-1","customer_id":"CUST-00001","type":"BILLING","priority":"HIGH",'
    '"subject":"Refund request","created_at":"2026-11-26T06:30:00.123Z"}'
)
WHEN = '"created_at":"2026-11-26T06:30:00.000Z"'

# (raw value, the reason it is rejected); None means it is a valid ticket.
MESSAGES: list[tuple[bytes | None, str | None]] = [
    (GOOD.encode(), None),
    (GOOD.replace('"subject"', '"channel":"email","subject"').encode(), None),  # extra field is fine
    (None, "null value"),
    (b"", "empty value"),
    (b"  \n", "empty value"),
    (b"\xff\xfe\x00garbage", "invalid UTF-8"),
    (b"not json at all", NOT_A_TICKET),
    (GOOD[:50].encode(), NOT_A_TICKET),  # truncated
    (b"[1, 2, 3]", NOT_A_TICKET),
    (b"42", NOT_A_TICKET),
    (b"null", NOT_A_TICKET),
    (b'{"ticket_id":"t-2","type":"BILLING","created_at":"yesterday"}', NOT_A_TICKET),  # wrong type
    (('{"type":"BILLING",' + WHEN + "}").encode(), "missing or invalid ticket_id"),
    (b'{"ticket_id":"t-3","created_at":"2026-11-26T06:30:00Z"}', "missing or invalid type"),
    (b'{"ticket_id":"t-4","type":"BILLING"}', "missing or invalid created_at"),
    (('{"ticket_id":"t-5","type":"REFUNDS",' + WHEN + "}").encode(), "unknown type 'REFUNDS'"),
    (('{"ticket_id":"t-6","type":"billing",' + WHEN + "}").encode(), "unknown type 'billing'"),
]


def kafka_rows(spark: SparkSession, values: list[bytes | None]) -> DataFrame:
    rows = [(value, "client_tickets", offset % 3, offset) for offset, value in enumerate(values)]
    return spark.createDataFrame(rows, "value binary, topic string, partition int, offset long")


def tickets(spark: SparkSession, types: list[str]) -> DataFrame:
    rows = [
        (f"t-{i}", "CUST-00001", t, "LOW", "subject", datetime(2026, 11, 26, 6, 30))
        for i, t in enumerate(types)
    ]
    return spark.createDataFrame(
        rows,
        "ticket_id string, customer_id string, type string, priority string, subject string, "
        "created_at timestamp",
    )


def test_every_message_gets_its_reason(spark):
    parsed = parse_tickets(kafka_rows(spark, [value for value, _ in MESSAGES]))
    reasons = {row["offset"]: row["reject_reason"] for row in parsed.collect()}
    assert reasons == {offset: reason for offset, (_, reason) in enumerate(MESSAGES)}


def test_parse_keeps_where_each_message_came_from(spark):
    parsed = parse_tickets(kafka_rows(spark, [GOOD.encode(), b"oops"]))
    assert parsed.columns == [*TICKET_COLUMNS, "topic", "partition", "offset", "raw", "reject_reason"]
    bad = parsed.where("reject_reason IS NOT NULL").first()
    assert (bad["topic"], bad["partition"], bad["offset"], bad["raw"]) == ("client_tickets", 1, 1, "oops")


def test_parse_reads_the_explicit_schema(spark):
    row = parse_tickets(kafka_rows(spark, [GOOD.encode()])).first()
    assert row["ticket_id"] == "t-1"
    assert row["type"] == "BILLING"
    assert row["created_at"] == datetime(2026, 11, 26, 6, 30, 0, 123000)


def test_raw_value_is_bounded(spark):
    parsed = parse_tickets(kafka_rows(spark, [b"x" * 100_000]))
    assert len(parsed.first()["raw"]) == 1000


def test_valid_tickets_drop_rejects_and_metadata(spark):
    parsed = parse_tickets(kafka_rows(spark, [value for value, _ in MESSAGES]))
    valid = valid_tickets(parsed)
    assert valid.columns == TICKET_COLUMNS
    assert valid.count() == sum(reason is None for _, reason in MESSAGES)


def test_the_team_map_covers_exactly_the_producer_types():
    assert set(SUPPORT_TEAMS) == set(TICKET_TYPES)


@pytest.mark.parametrize(
    ("ticket_type", "team"),
    [
        ("TECHNICAL", "Tech Support"),
        ("BILLING", "Billing Team"),
        ("ACCOUNT", "Account Management"),
        ("GENERAL", "General Support"),
    ],
)
def test_enrich_adds_the_support_team(spark, ticket_type, team):
    enriched = enrich(tickets(spark, [ticket_type]))
    assert enriched.columns == [*TICKET_COLUMNS, "support_team"]
    assert enriched.first()["support_team"] == team


def test_count_by_type(spark):
    types = ["BILLING", "ACCOUNT", "BILLING", "TECHNICAL", "BILLING", "ACCOUNT"]
    expected = spark.createDataFrame(
        [("ACCOUNT", 2), ("BILLING", 3), ("TECHNICAL", 1)], "type string, ticket_count long"
    )
    assertDataFrameEqual(count_by_type(enrich(tickets(spark, types))), expected)


def test_count_by_type_of_nothing_is_empty(spark):
    assert count_by_type(tickets(spark, [])).count() == 0
