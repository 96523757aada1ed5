"""The lake: every counted ticket, and the counts after each micro-batch, appended to two Delta
tables under LAKE_URI (a local folder or s3a://bucket/prefix; tickets_job.tables names them).

Exactly once per ticket, across crashes. Spark runs a micro-batch again after a crash, with the
same id and the same rows, and only ever the first micro-batch of a run: the batch before it was
committed by Spark, and the one after it is planned only once it is. Each append's commit names
its batch in Delta's commit information (`userMetadata`: the checkpoint's writer ID, recorded in
its pipeline.json, and the batch id), which Delta writes atomically with the rows. At the first
micro-batch of each run the job reads the table's recent commits and skips the append if one of
them is already this batch's: the batch committed its rows before the crash. Later batches of the
run are new to the table. The checkpoint's lease (tickets_job.lease) makes this job the table's
one writer. A new checkpoint (make clean, another CHECKPOINT_DIR) has a new writer ID, so its batch
ids, which start again at 0, are not mistaken for old ones.

Why not Delta's own idempotent writes (`txnAppId` / `txnVersion`): Delta answers them from the
table's whole state, which it rebuilds with a Spark job at every new version: more than the append
itself costs (docs/LAKE.md).

Small files: each batch writes one file per day of created_at into `tickets` (the rows are
coalesced first) and one into `ticket_counts`, and at 200 ms batches that is thousands of files
an hour. Delta's auto compaction rewrites a partition's small files into one after a commit once
it holds at least AUTO_COMPACT_MIN_FILES of them, and Delta writes a checkpoint of its log every
10 commits, so that a reader opens one Parquet file and a few JSON commits instead of the whole
log (docs/LAKE.md; the figures in docs/PERFORMANCE.md).
"""

from __future__ import annotations

import datetime
import json
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from tickets_job.tables import COUNT_COLUMNS, COUNTS, PARTITION_COLUMN, TICKET_COLUMNS, TICKETS
from tickets_job.transforms import enrich

log = logging.getLogger(__name__)

AUTO_COMPACT_MIN_FILES = 50
AUTO_COMPACT_MIN_FILE_SIZE = 8 * 1024 * 1024
CHECKPOINT_INTERVAL = 100  # commits between checkpoints of a table's log
# How far back the first batch of a run looks for its own commit: since then, only auto compactions
# (one per append at most) can have been committed to the table.
RECENT_COMMITS = 20

# The session's settings for Delta (tickets_job.session adds them when the lake is on).
DELTA_SESSION = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.databricks.delta.autoCompact.enabled": "true",
    "spark.databricks.delta.autoCompact.minNumFiles": str(AUTO_COMPACT_MIN_FILES),
    # Only files under this size are compacted again (Delta's default: 64 MiB, half its target),
    # so that a compaction rewrites the last ones and not the whole day's growing file.
    "spark.databricks.delta.autoCompact.minFileSize": str(AUTO_COMPACT_MIN_FILE_SIZE),
    # Delta rebuilds a table's state with a Spark job of this many tasks (50 by default): for
    # tables that grow by one small commit at a time, a few tasks do it sooner.
    "spark.databricks.delta.snapshotPartitions": "2",
    # Every this many commits Delta checkpoints a table's log (10 by default), and the batch that
    # does it takes seconds longer: the batches' p99 latency (docs/PERFORMANCE.md). Readers replay
    # at most this many small JSON commits after the last checkpoint. Set as the tables are created.
    "spark.databricks.delta.properties.defaults.checkpointInterval": str(CHECKPOINT_INTERVAL),
}

COUNTS_SCHEMA = StructType(
    [
        StructField("batch_id", LongType(), False),
        StructField("batch_time", TimestampType(), False),
        StructField("type", StringType(), False),
        StructField("ticket_count", LongType(), False),
    ]
)


def ticket_rows(judged: DataFrame, batch_id: int, batch_time: datetime.datetime) -> DataFrame:
    """The counted tickets of a judged micro-batch (transforms.first_copies) as `tickets` rows."""
    counted = enrich(judged.where(F.col("reject_reason").isNull()))
    return counted.select(
        "*",
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.lit(batch_id).cast("long").alias("batch_id"),
        F.lit(batch_time).alias("batch_time"),
        F.to_date("created_at").alias(PARTITION_COLUMN),  # the session's time zone is UTC
    ).select(*TICKET_COLUMNS)


class Lake:
    """Appends each micro-batch to the two tables under `uri`, exactly once (see above)."""

    def __init__(self, uri: str, writer_id: str) -> None:
        self.uri = uri.rstrip("/")
        self.writer_id = writer_id
        self.resumed: set[str] = set()  # the tables checked for the run's first batch

    def table(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def last_batch(self, spark: SparkSession, name: str) -> int:
        """The newest batch id this writer committed to the table, among its last RECENT_COMMITS
        commits (-1: none, or no table yet)."""
        # Delta's Java API: Delta's Python package is not installed, and SQL (DESCRIBE HISTORY)
        # would start Spark's catalog, which makes a spark-warehouse folder in the working directory.
        tables = spark._jvm.io.delta.tables.DeltaTable
        path = self.table(name)
        if not tables.isDeltaTable(spark._jsparkSession, path):
            return -1
        history = DataFrame(tables.forPath(spark._jsparkSession, path).history(RECENT_COMMITS), spark)
        found = -1
        for row in history.select("userMetadata").collect():
            try:
                marker = json.loads(row["userMetadata"] or "{}")
            except ValueError:
                continue
            if marker.get("writer") == self.writer_id:
                found = max(found, int(marker.get("batch", -1)))
        return found

    def _append(self, rows: DataFrame, name: str, batch_id: int, *partition_by: str) -> bool:
        """Append `rows` as batch `batch_id`'s commit; False when the table already holds it."""
        if name not in self.resumed:
            self.resumed.add(name)
            if (last := self.last_batch(rows.sparkSession, name)) >= batch_id:
                log.info(
                    "%s already holds micro-batch %d (committed up to %d): not appended", name, batch_id, last
                )
                return False
        marker = json.dumps({"writer": self.writer_id, "batch": batch_id})
        writer = rows.write.format("delta").mode("append").option("userMetadata", marker)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(self.table(name))
        return True

    def append_tickets(self, judged: DataFrame, batch_id: int, batch_time: datetime.datetime) -> bool:
        """The batch's counted tickets, one file per day of created_at."""
        rows = ticket_rows(judged, batch_id, batch_time)
        return self._append(rows.coalesce(1), TICKETS, batch_id, PARTITION_COLUMN)

    def append_counts(
        self, spark: SparkSession, counts: dict[str, int], batch_id: int, batch_time: datetime.datetime
    ) -> bool:
        """The counts by type after the batch (all of them, as the part file has them)."""
        rows = [(batch_id, batch_time, ticket_type, count) for ticket_type, count in sorted(counts.items())]
        frame = spark.createDataFrame(rows, COUNTS_SCHEMA).select(*COUNT_COLUMNS)
        return self._append(frame.coalesce(1), COUNTS, batch_id)
