"""Another query over the job's topic (a count by priority), checkpointed where the job's would be:
reliability scenario 9 checks that the job refuses the checkpoint it leaves.

Run:    python tests/e2e/other_query.py   (with the job's environment)
"""

from __future__ import annotations

import os

from tickets_job.session import create_session, driver_environment, read_kafka
from tickets_job.settings import Settings
from tickets_job.transforms import parse_tickets


def main() -> None:
    settings = Settings.from_env(os.environ)
    os.environ.update(driver_environment(settings))
    spark = create_session(settings)
    by_priority = parse_tickets(read_kafka(spark, settings), 1440).groupBy("priority").count()
    query = (
        by_priority.writeStream.outputMode("complete")
        .format("console")
        .option("checkpointLocation", f"{settings.checkpoint_dir}/query")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    spark.stop()


if __name__ == "__main__":
    main()
