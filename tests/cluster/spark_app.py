"""An application of the cluster's, as any user could submit one: the job's session (so its
settings: SPARK_MASTER, SPARK_PROPERTIES_FILE), then a count of 100 numbers in the executors.
The cluster scenarios' authentication test runs it with and without the cluster's secret.

Run:    python -m tests.cluster.spark_app   (prints "counted 100")
"""

from __future__ import annotations

import logging
import os

from tickets_job.session import create_session, driver_environment
from tickets_job.settings import Settings

log = logging.getLogger(__name__)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = Settings.from_env(os.environ)
    os.environ.update(driver_environment(settings))
    spark = create_session(settings)
    log.info("counted %d", spark.sparkContext.parallelize(range(100), 2).count())
    spark.stop()


if __name__ == "__main__":
    main()
