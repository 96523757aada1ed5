"""What Spark shows of the job's Kafka source: the test of redaction (test_security) runs this with a
client's environment and looks for its secrets in what it prints.

It builds the job's session and source (tickets_job.session), prints `explain(True)` of the source,
runs one micro-batch of it into Spark's no-op sink, and then prints, as one JSON object, the explain
text and what the UI's REST API answers for the application's environment and its SQL executions
(with their plans).

Run:    python -m tests.e2e.redaction_probe   (with the job's environment)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import urllib.request

from tickets_job.session import create_session, driver_environment, read_kafka
from tickets_job.settings import Settings


def rest(ui: str, path: str) -> object:
    with urllib.request.urlopen(f"{ui}/api/v1/applications{path}", timeout=30) as answer:
        return json.load(answer)


def main() -> None:
    settings = Settings.from_env(os.environ)
    os.environ.update(driver_environment(settings))
    spark = create_session(settings)
    source = read_kafka(spark, settings)
    explained = io.StringIO()
    with contextlib.redirect_stdout(explained):
        source.explain(True)
    query = (
        source.writeStream.format("noop")
        .option("checkpointLocation", f"{settings.checkpoint_dir}/redaction-probe")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    ui = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    shown = {
        "explain": explained.getvalue(),
        "environment": rest(ui, f"/{app}/environment"),
        "sql": rest(ui, f"/{app}/sql?details=true&planDescription=true"),
    }
    spark.stop()
    json.dump(shown, sys.stdout)


if __name__ == "__main__":
    main()
