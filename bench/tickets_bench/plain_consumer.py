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

from kafka import KafkaConsumer

from tickets_job.transforms import SUPPORT_TEAMS


def consume(bootstrap: str, topic: str, count: int) -> tuple[Counter[str], float]:
    """Counts by type of the first `count` distinct tickets, and the seconds the loop took."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[bootstrap],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
        max_poll_records=5000,
    )
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    for message in consumer:
        ticket = json.loads(message.value)
        if ticket["ticket_id"] in seen or ticket["type"] not in SUPPORT_TEAMS:
            continue
        seen.add(ticket["ticket_id"])
        ticket["support_team"] = SUPPORT_TEAMS[ticket["type"]]
        counts[ticket["type"]] += 1
        if len(seen) == count:
            break
    elapsed = time.perf_counter() - started
    consumer.close()
    return counts, elapsed


def main(argv: list[str]) -> int:
    bootstrap, topic, count = argv[0], argv[1], int(argv[2])
    counts, seconds = consume(bootstrap, topic, count)
    sys.stdout.write(json.dumps({"counted": sum(counts.values()), "loop_seconds": seconds}) + "\n")
    return 0 if sum(counts.values()) == count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
