"""The baseline the Spark job is measured against: what a small-scale user would write instead.

One Python process with kafka-python: reads the topic from its first offset, parses each ticket,
drops repeated ticket ids with a set, adds the support team and counts by type, until it has
counted COUNT tickets. No checkpoint, no exactly-once export, no quarantine.

Run:    python -m tickets_bench.plain_consumer BOOTSTRAP TOPIC COUNT
Prints: one JSON line, {"counted": N, "loop_seconds": S} (S: from the first poll to the last ticket).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from typing import Any

from kafka import KafkaConsumer

from tickets_job.transforms import SUPPORT_TEAMS

# (bootstrap, topic) -> the topic's values from its first offset
Consume = Callable[[str, str], Generator[bytes, None, None]]


def tally(values: Iterable[bytes], count: int, loads: Callable[[bytes], Any]) -> Counter[str]:
    """Counts by type of the first `count` distinct tickets among `values`."""
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for value in values:
        ticket = loads(value)
        if ticket["ticket_id"] in seen or ticket["type"] not in SUPPORT_TEAMS:
            continue
        seen.add(ticket["ticket_id"])
        ticket["support_team"] = SUPPORT_TEAMS[ticket["type"]]
        counts[ticket["type"]] += 1
        if len(seen) == count:
            break
    return counts


def kafka_python_values(bootstrap: str, topic: str) -> Generator[bytes, None, None]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[bootstrap],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
        max_poll_records=5000,
    )
    try:
        for message in consumer:
            yield message.value
    finally:
        consumer.close()


def run(argv: list[str], consume: Consume, loads: Callable[[bytes], Any]) -> int:
    """BOOTSTRAP TOPIC COUNT: tally the topic's values; print the count and the loop's seconds."""
    bootstrap, topic, count = argv[0], argv[1], int(argv[2])
    values = consume(bootstrap, topic)
    started = time.perf_counter()
    counts = tally(values, count, loads)
    seconds = time.perf_counter() - started
    values.close()
    sys.stdout.write(json.dumps({"counted": sum(counts.values()), "loop_seconds": seconds}) + "\n")
    return 0 if sum(counts.values()) == count else 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:], kafka_python_values, json.loads))
