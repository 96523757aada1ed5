"""The one-process limit a Python engineer would write for speed: the plain consumer's work
(tickets_bench.plain_consumer: parse, drop repeated ids, add the team, count by type) with
librdkafka (confluent-kafka) and orjson instead of kafka-python and json. Installed for the
benchmark only (requirements-bench.txt); no checkpoint, no exactly-once export, no quarantine.

Run:    python -m tickets_bench.fast_consumer BOOTSTRAP TOPIC COUNT
Prints: one JSON line, {"counted": N, "loop_seconds": S} (S: from the first poll to the last ticket).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Generator

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tickets_bench.plain_consumer import run

IDLE_SECONDS = 10  # give up when the topic has nothing more for this long


def librdkafka_values(bootstrap: str, topic: str) -> Generator[bytes, None, None]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    # Assigned, not subscribed: no group to join (the plain consumer joins none either).
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in partitions])
    last_message = time.monotonic()
    try:
        while time.monotonic() - last_message < IDLE_SECONDS:
            messages = consumer.consume(num_messages=10_000, timeout=1.0)
            if messages:
                last_message = time.monotonic()
            for message in messages:
                if not message.error():
                    yield message.value()
    finally:
        consumer.close()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:], librdkafka_values, orjson.loads))
