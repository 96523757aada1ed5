"""parse -> valid -> enrich -> count on a local SparkSession (tickets_job.transforms)."""

import os
from datetime import datetime

import pytest
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from tickets_job.transforms import (
    IN_THE_FUTURE,
    NOT_A_TICKET,
    SUPPORT_TEAMS,
    TICKET_COLUMNS,
    TICKET_ID_TOO_LONG,
    TOO_OLD,
    enrich,
    first_copies,
    parse_tickets,
    quarantine_row,
    verdicts,
)
from tickets_producer.tickets import TICKET_TYPES

HORIZON = 60  # minutes: accepted created_at lie in [NOW - 50 min, NOW + 5 min]
NOW = datetime(2026, 11, 26, 6, 45)  # the batch time the parse tests pretend

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
    (b'{"ticket_id":"t-7","type":"GENERAL","created_at":"2026-11-26T06:51:00Z"}', IN_THE_FUTURE),
    (b'{"ticket_id":"t-8","type":"GENERAL","created_at":"2026-11-26T06:49:59Z"}', None),  # skew
    (b'{"ticket_id":"t-9","type":"GENERAL","created_at":"2026-11-26T05:55:01Z"}', None),
    (b'{"ticket_id":"t-10","type":"GENERAL","created_at":"2026-11-26T05:54:59Z"}', TOO_OLD),
    (b'{"ticket_id":"t-11","type":"GENERAL","created_at":"1970-01-01T00:00:00Z"}', TOO_OLD),
    (('{"ticket_id":"' + "i" * 200 + '","type":"GENERAL",' + WHEN + "}").encode(), None),  # the longest
    (('{"ticket_id":"' + "i" * 201 + '","type":"GENERAL",' + WHEN + "}").encode(), TICKET_ID_TOO_LONG),
    (('{"ticket_id":"t-12","type":"' + "T" * 40 + '",' + WHEN + "}").encode(), f"unknown type '{'T' * 40}'"),
    (
        ('{"ticket_id":"t-13","type":"' + "\\n" + "T" * 99_999 + '",' + WHEN + "}").encode(),
        f"unknown type '\n{'T' * 39}...' (100000 characters)",
    ),
]


def kafka_rows(spark: SparkSession, values: list[bytes | None]) -> DataFrame:
    rows = [
        (f"k-{offset}".encode(), value, "client_tickets", offset % 3, offset)
        for offset, value in enumerate(values)
    ]
    return spark.createDataFrame(rows, "key binary, value binary, topic string, partition int, offset long")


def parse(rows: DataFrame) -> DataFrame:
    return parse_tickets(rows, HORIZON, now=F.lit(NOW).cast("timestamp"))


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
    parsed = parse(kafka_rows(spark, [value for value, _ in MESSAGES]))
    reasons = {row["offset"]: row["reject_reason"] for row in parsed.collect()}
    assert reasons == {offset: reason for offset, (_, reason) in enumerate(MESSAGES)}


def test_parse_keeps_where_each_message_came_from(spark):
    parsed = parse(kafka_rows(spark, [GOOD.encode(), b"oops"]))
    assert parsed.columns == [
        *TICKET_COLUMNS,
        *("topic", "partition", "offset", "key", "value", "value_bytes", "raw", "reject_reason", "read_at"),
    ]
    bad = (
        parsed.where(F.col("reject_reason").isNotNull())
        .select(quarantine_row().alias("r"))
        .select("r.*")
        .collect()
    )
    assert [row.asDict() for row in bad] == [
        {
            "reason": NOT_A_TICKET,
            "topic": "client_tickets",
            "partition": 1,
            "offset": 1,
            "value_bytes": 4,
            "raw": "oops",
        }
    ]


def test_parse_reads_the_explicit_schema(spark):
    row = parse(kafka_rows(spark, [GOOD.encode()])).first()
    assert row["ticket_id"] == "t-1"
    assert row["type"] == "BILLING"
    assert row["created_at"] == datetime(2026, 11, 26, 6, 30, 0, 123000)


def test_raw_value_is_bounded_and_its_size_kept(spark):
    parsed = parse(kafka_rows(spark, [b"x" * 100_000]))
    assert len(parsed.first()["raw"]) == 1000
    assert parsed.first()["value_bytes"] == 100_000


def test_the_batch_time_is_the_default_reference(spark):
    """Without `now`, the window follows the clock: a ticket created now is accepted."""
    fresh = f'{{"ticket_id":"t","type":"BILLING","created_at":"{datetime.utcnow().isoformat()}Z"}}'
    parsed = parse_tickets(kafka_rows(spark, [fresh.encode()]), HORIZON)
    assert parsed.first()["reject_reason"] is None


def test_first_copies_pass_each_id_once_and_every_rejected_message(spark, tmp_path):
    """Deduplication is stateful, so it is tested as a stream: one file per micro-batch, each line
    `offset|value` standing for a Kafka message."""
    batches = [
        ["t-0", "t-1", "t-0", "bad"],
        ["t-1", "t-2", "bad"],  # the same bad value again, at another offset: quarantined again
        ["t-2", "t-0"],
    ]
    source = tmp_path / "in"
    source.mkdir()
    offset = 0
    for batch, ids in enumerate(batches):
        lines = []
        for ticket_id in ids:
            value = (
                "not json" if ticket_id == "bad" else f'{{"ticket_id":"{ticket_id}","type":"BILLING",{WHEN}}}'
            )
            lines.append(f"{offset}|{value}")
            offset += 1
        file = source / f"{batch}.txt"
        file.write_text("\n".join(lines) + "\n")
        os.utime(file, (1_800_000_000 + batch, 1_800_000_000 + batch))  # the file source's order
    line = F.split(F.col("value"), r"\|", 2)
    kafka = (
        spark.readStream.option("maxFilesPerTrigger", 1)
        .text(str(source))
        .select(
            F.lit(None).cast("binary").alias("key"),
            line[1].cast("binary").alias("value"),
            F.lit("client_tickets").alias("topic"),
            F.lit(0).alias("partition"),
            line[0].cast("long").alias("offset"),
        )
    )
    query = (
        first_copies(parse(kafka), HORIZON)
        .writeStream.format("memory")
        .queryName("first_copies")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    out = spark.table("first_copies").collect()
    assert sorted(row["ticket_id"] for row in out if row["reject_reason"] is None) == ["t-0", "t-1", "t-2"]
    assert sorted(row["offset"] for row in out if row["reject_reason"] is not None) == [3, 6]
    assert all(row["raw"] is None for row in out if row["reject_reason"] is None)
    assert not {"key", "value"} & out[0].asDict().keys()  # no message's bytes through the shuffle
    assert [row["raw"] for row in out if row["reject_reason"] is not None] == ["not json"] * 2
    dropped = [
        p["stateOperators"][0]["customMetrics"]["numDroppedDuplicateRows"] for p in query.recentProgress
    ]
    late = [p["stateOperators"][0]["numRowsDroppedByWatermark"] for p in query.recentProgress]
    assert dropped == [1, 1, 2] and late == [0, 0, 0]


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


def test_verdicts_count_tickets_by_type_and_keep_each_rejected_message(spark):
    values = [value for value, _ in MESSAGES]
    counted = Observation("counted")
    rows = verdicts(parse(kafka_rows(spark, values)), counted).collect()
    valid = [reason is None for _, reason in MESSAGES]
    # Observed as the rows stream through, though only the rejected rows come out.
    assert counted.get == {"ACCOUNT": 0, "BILLING": 2, "GENERAL": 3, "TECHNICAL": 0}
    assert sum(counted.get.values()) == sum(valid)
    rejects = sorted((row["reject"].asDict() for row in rows), key=lambda r: r["offset"])
    assert [r["offset"] for r in rejects] == [offset for offset, ok in enumerate(valid) if not ok]
    assert [r["reason"] for r in rejects] == [reason for _, reason in MESSAGES if reason is not None]
    assert list(rejects[0]) == [
        "reason",
        "topic",
        "partition",
        "offset",
        "value_bytes",
        "raw",
    ]  # the message's own bytes never reach the driver: they go to the dead-letter topic from the executors


def test_verdicts_of_nothing_are_empty(spark):
    counted = Observation("counted")
    assert verdicts(parse(kafka_rows(spark, [])), counted).collect() == []
    assert counted.get == {"ACCOUNT": 0, "BILLING": 0, "GENERAL": 0, "TECHNICAL": 0}


def test_verdicts_add_no_shuffle_to_the_batch(spark):
    """The counts are observed, not grouped: the batch's plan has no exchange of its own."""
    plan = verdicts(parse(kafka_rows(spark, [b"{}"])), Observation("counted"))._jdf.queryExecution()
    assert "Exchange" not in plan.executedPlan().toString()
