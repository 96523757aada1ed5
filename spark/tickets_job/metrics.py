"""The job's own metrics for Prometheus, served at http://METRICS_BIND:METRICS_PORT/metrics.

    metric                                type     labels  what
    tickets_counted                       gauge    type    tickets counted since the checkpoint began
                                                           (the part file's counts)
    tickets_read_total                    counter          messages read by this process
    tickets_duplicates_total              counter          later copies of a counted ticket id, dropped
    tickets_quarantined_total             counter  reason  messages rejected, by reason (without the
                                                           value it quotes: "unknown type")
    tickets_offsets_behind                gauge    topic,  records each partition holds beyond the
                                                   partition  last batch (the job's lag)
    tickets_last_batch_id                 gauge            the last micro-batch reported
    tickets_last_batch_duration_seconds   gauge            that batch's time, trigger to commit
    tickets_last_batch_timestamp_seconds  gauge            when it was reported (Unix time)
    tickets_kafka_reachable               gauge            1 while a bootstrap server answers the job's
                                                           probe (every 5 s), else 0
    tickets_state_bytes                   gauge    where   the deduplication state's size after the last
                                                           batch: where="disk" (RocksDB's files in the
                                                           checkpoint's working copy) or "memory"

The counters start at zero with the process (Prometheus' rate() and increase() handle the restarts);
the gauges are the checkpoint's figures, the same after a restart. The process's own figures
(process_resident_memory_bytes, ...) come with them. Spark's metrics are served by Spark itself, on
its UI port (tickets_job.session).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, start_http_server

from tickets_job.sink import BatchVerdicts

log = logging.getLogger(__name__)


class JobMetrics:
    """The metrics of the table above, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)

        def gauge(name: str, text: str, *labels: str) -> Gauge:
            return Gauge(name, text, labels, registry=self.registry)

        def counter(name: str, text: str, *labels: str) -> Counter:
            return Counter(name, text, labels, registry=self.registry)

        self.counted = gauge("tickets_counted", "Tickets counted since the checkpoint began", "type")
        self.read = counter("tickets_read", "Messages read by this process")
        self.duplicates = counter("tickets_duplicates", "Later copies of a counted ticket id, dropped")
        self.quarantined = counter("tickets_quarantined", "Messages rejected, by reason", "reason")
        self.behind = gauge(
            "tickets_offsets_behind", "Records a partition holds beyond the last batch", "topic", "partition"
        )
        self.batch_id = gauge("tickets_last_batch_id", "The last micro-batch reported")
        self.batch_seconds = gauge(
            "tickets_last_batch_duration_seconds", "The last micro-batch's time, trigger to commit"
        )
        self.batch_time = gauge("tickets_last_batch_timestamp_seconds", "When the last batch was reported")
        self.reachable = gauge("tickets_kafka_reachable", "1 while a bootstrap server answers the probe")
        self.state = gauge(
            "tickets_state_bytes", "The deduplication state's size after the last batch", "where"
        )

    def serve(self, port: int, address: str) -> bool:
        """Serve /metrics on `address`:`port`; a port taken is a warning (the job goes on)."""
        try:
            start_http_server(port, addr=address, registry=self.registry)
        except OSError as err:
            log.warning("cannot serve the job's metrics on %s:%d (%s); the job goes on", address, port, err)
            return False
        log.info("metrics for Prometheus at http://%s:%d/metrics", address, port)
        return True

    def kafka_probed(self, reachable: bool) -> None:
        self.reachable.set(1 if reachable else 0)

    def observe_state(self, sizes: Mapping[str, int]) -> None:
        """The deduplication state's size by where it is kept ("disk", "memory")."""
        for where, size in sizes.items():
            self.state.labels(where).set(size)

    def observe(
        self,
        batch_id: int,
        rows: int,
        verdicts: BatchVerdicts,
        duplicates: int,
        behind: Mapping[tuple[str, int], int],
        millis: int,
    ) -> None:
        """One reported micro-batch."""
        for ticket_type, count in verdicts.counts.items():
            self.counted.labels(ticket_type).set(count)
        self.read.inc(rows)
        self.duplicates.inc(duplicates)
        for reason, count in verdicts.reasons.items():
            self.quarantined.labels(reason).inc(count)
        for (topic, partition), records in behind.items():
            self.behind.labels(topic, str(partition)).set(records)
        self.batch_id.set(batch_id)
        self.batch_seconds.set(millis / 1000)
        self.batch_time.set(time.time())
