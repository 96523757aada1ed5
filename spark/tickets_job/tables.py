"""The lake's two Delta tables: their names and columns, for the job that writes them and for the
readers (tickets_query) that must not import Spark.

    tickets        one row per counted ticket, partitioned by created_date (the UTC day of
                   created_at): a query for a day's tickets reads that day's folder only
    ticket_counts  the counts by type after each micro-batch that counted tickets (the part file's
                   lines, with the batch), so that the counts' history can be queried

The Kafka position columns are prefixed (kafka_partition, kafka_offset): `partition` and `offset`
are reserved words in the SQL of DuckDB, Athena and Spark.
"""

from __future__ import annotations

# The Delta Lake release built for the Spark the job runs (pyspark's version): a test holds the
# pair together, from the Delta jar's own declaration of the Spark it was built against.
DELTA_SPARK = "io.delta:delta-spark_2.13:4.4.0"
SPARK_OF_DELTA = "4.2.0"

TICKETS = "tickets"
COUNTS = "ticket_counts"
PARTITION_COLUMN = "created_date"

TICKET_COLUMNS = (
    "ticket_id",
    "customer_id",
    "type",
    "priority",
    "subject",
    "created_at",
    "support_team",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "batch_id",
    "batch_time",
    PARTITION_COLUMN,
)
COUNT_COLUMNS = ("batch_id", "batch_time", "type", "ticket_count")
