"""The job's logic as pure DataFrame -> DataFrame functions, batch or streaming alike.

Kafka rows (key, value, topic, partition, offset, ...)
  -> parse_tickets   ticket columns + topic, partition, offset, key, value, value_bytes, raw,
                     reject_reason, read_at
  -> first_copies    the first copy of each valid ticket_id within the horizon, and every rejected
                     message; later copies of an id are dropped here (Spark counts them)
  -> verdicts        (in the sink) + support_team; each rejected message as a row, the counted
                     tickets by type as observed metrics

One verdict per message: reject_reason is computed once, from the micro-batch's own timestamp
(`read_at`, kept in Spark's offset log, so a re-run batch decides the same), and every message then
passes the same deduplication operator exactly once.

Why the time checks are safe: deduplication keeps each id for `horizon` of event time (the
watermark), and Spark drops rows older than the watermark. A ticket is accepted only if its
created_at lies in [now - (horizon - 2 * skew), now + skew], with `now` the batch's timestamp, and a
rejected message is timed at `now` itself; since the watermark never passes the newest event time
minus the horizon, no accepted ticket or rejected message is ever older than the watermark: nothing
is dropped silently (Spark's numRowsDroppedByWatermark stays 0, and the job's progress line checks
it). A ticket outside that window is quarantined with its reason instead.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Observation
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
# A ticket_id is a uuid4 (36 characters); a longer one is quarantined rather than kept in the
# deduplication state for the horizon, and a reason quotes at most QUOTED_CHARS of an unknown type.
MAX_TICKET_ID_CHARS = 200
TICKET_ID_TOO_LONG = f"ticket_id longer than {MAX_TICKET_ID_CHARS} characters"
QUOTED_CHARS = 40
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
        reason.when(F.char_length(ticket["ticket_id"]) > MAX_TICKET_ID_CHARS, F.lit(TICKET_ID_TOO_LONG))
        .when(~F.array_contains(known_types, ticket["type"]), _quoted("unknown type", ticket["type"]))
        .when(created_at > now + _minutes(CLOCK_SKEW_MINUTES), F.lit(IN_THE_FUTURE))
        .when(created_at < now - _minutes(horizon_minutes - 2 * CLOCK_SKEW_MINUTES), F.lit(TOO_OLD))
    )


def _quoted(what: str, value: Column) -> Column:
    """`what 'value'`, with at most QUOTED_CHARS of the value and the length of a longer one."""
    length = F.char_length(value)
    longer = length > QUOTED_CHARS
    shown = F.when(longer, F.concat(F.substring(value, 1, QUOTED_CHARS), F.lit("..."))).otherwise(value)
    of_length = F.when(longer, F.concat(F.lit(" ("), length.cast("string"), F.lit(" characters)")))
    return F.concat(F.lit(f"{what} '"), shown, F.lit("'"), F.coalesce(of_length, F.lit("")))


def parse_tickets(
    kafka_rows: DataFrame,
    horizon_minutes: int,
    now: Column | None = None,
) -> DataFrame:
    """Parse each Kafka value with the explicit schema; bad messages stay, tagged with a reason.

    `now` defaults to the micro-batch's timestamp, which Spark keeps in the checkpoint, so a batch
    that is run again after a crash makes the same decisions; it is kept as `read_at`.
    Shape: ticket columns + (topic, partition, offset, key, value, value_bytes, raw, reject_reason,
    read_at).
    """
    now = F.current_timestamp() if now is None else now
    text = F.col("value").cast("string")
    ticket = F.from_json(text, _PARSE_SCHEMA, _JSON_OPTIONS)
    return kafka_rows.select(
        F.col("key"),
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
        F.col("key"),
        F.col("value"),
        F.octet_length(F.col("value")).alias("value_bytes"),
        F.substring(F.col("raw"), 1, RAW_PREVIEW_CHARS).alias("raw"),
        _reject_reason(F.col("value"), F.col("raw"), F.col("ticket"), now, horizon_minutes).alias(
            "reject_reason"
        ),
        now.alias("read_at"),
    )


def quarantine_row() -> Column:
    """A rejected message as the quarantine file keeps it (a struct): bounded whatever the message
    (a preview of RAW_PREVIEW_CHARS characters, a reason that quotes at most QUOTED_CHARS), since
    the sink collects these rows to the driver. The message's own bytes never come this way: the
    dead-letter topic reads them again from Kafka, on the executors (tickets_job.deadletter)."""
    return F.struct(
        F.col("reject_reason").alias("reason"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("value_bytes"),
        F.col("raw"),
    )


def first_copies(parsed: DataFrame, horizon_minutes: int) -> DataFrame:
    """Every parsed message through one deduplication operator, so that each gets one verdict.

    A valid ticket is keyed by its ticket_id and timed by its created_at: only the first copy within
    the horizon comes out. A rejected message is keyed by its own position (topic, partition,
    offset), which no other message has, and timed at the batch's moment (`read_at`): it always
    comes out, and its key is forgotten a horizon later like any other.
    Only what the verdicts and the lake need goes through the operator's shuffle (`raw` only for
    rejected rows, never a message's whole value; the operator's state keeps only the deduplication
    keys).
    Shape: (ticket columns, reject_reason, topic, partition, offset, value_bytes, raw).
    """
    valid = F.col("reject_reason").isNull()
    keyed = parsed.select(
        *TICKET_COLUMNS,
        "reject_reason",
        "topic",
        "partition",
        "offset",
        "value_bytes",
        F.when(~valid, F.col("raw")).alias("raw"),
        F.when(valid, F.col("ticket_id")).alias("_counted_id"),
        F.when(~valid, F.struct("topic", "partition", "offset")).alias("_rejected_at"),
        F.when(valid, F.col("created_at")).otherwise(F.col("read_at")).alias("_event_time"),
    )
    return (
        keyed.withWatermark("_event_time", f"{horizon_minutes} minutes")
        .dropDuplicatesWithinWatermark(["_counted_id", "_rejected_at"])
        .drop("_counted_id", "_rejected_at", "_event_time")
    )


def enrich(tickets: DataFrame) -> DataFrame:
    """Add the team that handles each ticket type."""
    teams = F.create_map(*[F.lit(x) for pair in sorted(SUPPORT_TEAMS.items()) for x in pair])
    return tickets.withColumn("support_team", teams[F.col("type")])


def verdicts(judged: DataFrame, observation: Observation) -> DataFrame:
    """A judged micro-batch in one pass and without a shuffle: the rejected messages as rows (each
    a quarantine row, `reject`), and the counted tickets as `observation`'s metrics, one count per
    type ({"ACCOUNT": 52, ...}; `observation.get` after the rows are collected).

    Spark computes observed metrics as the rows stream through the plan, so counting adds no stage
    to the batch's job. They are computed in the job's last stage, whose tasks' metrics Spark
    applies once per partition even when a task runs again. A count by type is exact because the
    types are known (SUPPORT_TEAMS) and a ticket of any other type is rejected. Each counted ticket
    is counted under its support team.
    """
    rejected = F.col("reject_reason").isNotNull()
    counts = [
        F.count_if(~rejected & (F.col("support_team") == team)).alias(ticket_type)
        for ticket_type, team in sorted(SUPPORT_TEAMS.items())
    ]
    return (
        enrich(judged).observe(observation, *counts).where(rejected).select(quarantine_row().alias("reject"))
    )
