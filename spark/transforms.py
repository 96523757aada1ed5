"""The job's logic as pure DataFrame -> DataFrame functions, batch or streaming alike.

Kafka rows (key, value, topic, partition, offset, ...)
  -> parse_tickets     ticket columns + topic, partition, offset, value_bytes, raw, reject_reason
  -> valid_tickets     ticket columns of the rows with no reject_reason
  -> deduplicate       the first copy of each ticket_id within the horizon
  -> enrich            + support_team
  -> count_by_type     (type, ticket_count)
parse_tickets -> rejected_messages: what goes to the quarantine.

Why the time checks are safe: deduplication keeps each id for `horizon` of event time (the
watermark on created_at), and Spark drops rows older than the watermark. A ticket is accepted
only if its created_at lies in [now - (horizon - 2 * skew), now + skew], with `now` the batch's
timestamp; since the watermark never passes the newest accepted created_at minus the horizon, no
accepted ticket is ever older than the watermark: nothing valid is dropped silently. A ticket
outside that window is quarantined with its reason instead.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

SUPPORT_TEAMS: dict[str, str] = {
    "TECHNICAL": "Tech Support",
    "BILLING": "Billing Team",
    "ACCOUNT": "Account Management",
    "GENERAL": "General Support",
}

CORRUPT_RECORD = "_corrupt_record"
TICKET_SCHEMA = StructType(
    [
        StructField("ticket_id", StringType()),
        StructField("customer_id", StringType()),
        StructField("type", StringType()),
        StructField("priority", StringType()),
        StructField("subject", StringType()),
        StructField("created_at", TimestampType()),
    ]
)
TICKET_COLUMNS = TICKET_SCHEMA.fieldNames()
# Without these a message cannot be counted (ticket_id, type) or placed in time (created_at).
REQUIRED_FIELDS = ("ticket_id", "type", "created_at")
RAW_PREVIEW_CHARS = 1000
NOT_A_TICKET = "malformed JSON, not an object, or a field of the wrong type"
TOO_OLD = "created_at older than the deduplication horizon"
IN_THE_FUTURE = "created_at in the future"
# Clocks of producers and of the job may disagree by this much.
CLOCK_SKEW_MINUTES = 5

_PARSE_SCHEMA = StructType([*TICKET_SCHEMA.fields, StructField(CORRUPT_RECORD, StringType())])
_JSON_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}


def _minutes(count: int) -> Column:
    return F.make_dt_interval(mins=F.lit(count))


def _reject_reason(value: Column, text: Column, ticket: Column, now: Column, horizon_minutes: int) -> Column:
    """The first reason the message is not a countable ticket, or null when it is one."""
    reason = (
        F.when(value.isNull(), F.lit("null value"))
        .when(text.rlike(r"^\s*$"), F.lit("empty value"))
        .when(~F.is_valid_utf8(value), F.lit("invalid UTF-8"))
        # PERMISSIVE from_json never fails: unparsable text, a field it cannot convert, JSON null,
        # arrays and scalars give a null struct or fill the corrupt-record column instead.
        .when(ticket.isNull() | ticket[CORRUPT_RECORD].isNotNull(), F.lit(NOT_A_TICKET))
    )
    for name in REQUIRED_FIELDS:
        reason = reason.when(ticket[name].isNull(), F.lit(f"missing or invalid {name}"))
    known_types = F.array(*[F.lit(t) for t in sorted(SUPPORT_TEAMS)])
    created_at = ticket["created_at"]
    return (
        reason.when(
            ~F.array_contains(known_types, ticket["type"]),
            F.concat(F.lit("unknown type '"), ticket["type"], F.lit("'")),
        )
        .when(created_at > now + _minutes(CLOCK_SKEW_MINUTES), F.lit(IN_THE_FUTURE))
        .when(created_at < now - _minutes(horizon_minutes - 2 * CLOCK_SKEW_MINUTES), F.lit(TOO_OLD))
    )


def parse_tickets(
    kafka_rows: DataFrame,
    horizon_minutes: int,
    now: Column | None = None,
) -> DataFrame:
    """Parse each Kafka value with the explicit schema; bad messages stay, tagged with a reason.

    `now` defaults to the micro-batch's timestamp, which Spark keeps in the checkpoint, so a batch
    that is run again after a crash makes the same decisions.
    Shape: ticket columns + (topic, partition, offset, value_bytes, raw, reject_reason).
    """
    now = F.current_timestamp() if now is None else now
    text = F.col("value").cast("string")
    ticket = F.from_json(text, _PARSE_SCHEMA, _JSON_OPTIONS)
    return kafka_rows.select(
        F.col("value"),
        text.alias("raw"),
        ticket.alias("ticket"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
    ).select(
        *[F.col("ticket")[name].alias(name) for name in TICKET_COLUMNS],
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.octet_length(F.col("value")).alias("value_bytes"),
        F.substring(F.col("raw"), 1, RAW_PREVIEW_CHARS).alias("raw"),
        _reject_reason(F.col("value"), F.col("raw"), F.col("ticket"), now, horizon_minutes).alias(
            "reject_reason"
        ),
    )


def valid_tickets(parsed: DataFrame) -> DataFrame:
    """The tickets that can be counted, with their own columns only."""
    return parsed.where(F.col("reject_reason").isNull()).select(*TICKET_COLUMNS)


def rejected_messages(parsed: DataFrame) -> DataFrame:
    """(reason, topic, partition, offset, value_bytes, raw): one row per quarantined message."""
    return parsed.where(F.col("reject_reason").isNotNull()).select(
        F.col("reject_reason").alias("reason"),
        "topic",
        "partition",
        "offset",
        "value_bytes",
        "raw",
    )


def deduplicate(tickets: DataFrame, horizon_minutes: int) -> DataFrame:
    """Keep the first copy of each ticket_id; an id is remembered for `horizon_minutes` of event time."""
    return tickets.withWatermark("created_at", f"{horizon_minutes} minutes").dropDuplicatesWithinWatermark(
        ["ticket_id"]
    )


def enrich(tickets: DataFrame) -> DataFrame:
    """Add the team that handles each ticket type."""
    teams = F.create_map(*[F.lit(x) for pair in sorted(SUPPORT_TEAMS.items()) for x in pair])
    return tickets.withColumn("support_team", teams[F.col("type")])


def count_by_type(tickets: DataFrame) -> DataFrame:
    """(type, ticket_count): how many tickets of each type."""
    return tickets.groupBy("type").agg(F.count(F.lit(1)).alias("ticket_count"))
