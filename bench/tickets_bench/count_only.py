"""Baseline: Spark's own Kafka source reading the backlog and only counting its rows.

The job's session and source (same connector, options and security), none of its work: no parse,
no deduplication, no sink. Reads what the topic holds (availableNow), then prints one JSON line:

    {"seconds": 1.9, "rows": 100000}

Environment: the job's (KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC, CHECKPOINT_DIR, ...).
Run:    python -m tickets_bench.count_only
"""

from __future__ import annotations

import json
import os
import time

from pyspark.sql import DataFrame

from tickets_job.session import create_session, driver_environment, read_kafka
from tickets_job.settings import Settings


def main() -> None:
    settings = Settings.from_env(os.environ)
    os.environ.update(driver_environment(settings))
    spark = create_session(settings)
    rows: list[int] = []

    def count(frame: DataFrame, batch_id: int) -> None:
        rows.append(frame.count())

    query = (
        read_kafka(spark, settings)
        .writeStream.foreachBatch(count)
        .option("checkpointLocation", str(settings.checkpoint_dir))
        .trigger(availableNow=True)
        .start()
    )
    started = time.perf_counter()
    query.awaitTermination()
    print(json.dumps({"seconds": time.perf_counter() - started, "rows": sum(rows)}))
    spark.stop()


if __name__ == "__main__":
    main()
