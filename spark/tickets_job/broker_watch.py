"""One readable line while Kafka cannot be reached, instead of the Kafka client's warnings.

Spark's Kafka source keeps retrying an unreachable broker by itself (the broker may come later);
the Kafka client logs a WARN line for every attempt, several per second, and the source a WARN
with a stack trace for each failed offset lookup, once a minute. The job turns those off
(quiet_kafka_clients) and says it in its own words instead, repeated at a calm interval:

    waiting for Kafka at localhost:9092: not reachable ([Errno 111] Connection refused)
    Kafka at localhost:9092 is reachable now
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from pyspark.sql import SparkSession

from tickets_job.session import quiet_loggers
from tickets_kafka.probe import unreachable

log = logging.getLogger(__name__)

PROBE_EVERY = 5.0  # seconds between two connection attempts
REPEAT_EVERY = 30.0  # seconds between two "waiting for Kafka" lines while it stays unreachable


# The loggers whose warnings repeat at every retry while Kafka cannot be reached.
RETRYING_LOGGERS = ("org.apache.kafka", "org.apache.spark.sql.kafka010")


def quiet_kafka_clients(spark: SparkSession) -> None:
    """Only errors from the Kafka client and Spark's Kafka source in Spark's log."""
    quiet_loggers(spark, RETRYING_LOGGERS)


class BrokerWatch(threading.Thread):
    """Probes the bootstrap servers until `stop` is set; logs when they cannot be reached."""

    def __init__(
        self,
        servers: Sequence[str],
        stop: threading.Event,
        probe_every: float = PROBE_EVERY,
        repeat_every: float = REPEAT_EVERY,
        on_probe: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(name="broker-watch", daemon=True)
        self.servers = servers
        self.stop = stop
        self.probe_every = probe_every
        self.repeat_every = repeat_every
        self.on_probe = on_probe  # told each probe's outcome (reachable or not)

    def run(self) -> None:
        silent_for = 0.0  # seconds until the next "waiting" line may be logged
        waiting = False
        while True:
            problem = unreachable(self.servers)
            if self.on_probe is not None:
                self.on_probe(problem is None)
            if problem is None and waiting:
                log.info("Kafka at %s is reachable now", ",".join(self.servers))
            elif problem is not None and silent_for <= 0:
                log.warning("waiting for Kafka at %s: not reachable (%s)", ",".join(self.servers), problem)
                silent_for = self.repeat_every
            waiting = problem is not None
            silent_for = silent_for - self.probe_every if waiting else 0.0
            if self.stop.wait(self.probe_every):
                return
