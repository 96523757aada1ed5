"""Test harness: the stack's real processes (tickets_local) and the readers that check them
independently of the job's code: Kafka's console consumer, the producer's ledger, the part file and
the quarantine files parsed here, the lake's Delta tables read with delta-rs.

Everything waits on offsets or output with a deadline; nothing sleeps a fixed time to "let it work".
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from tickets_job.export import PART_GLOB
from tickets_local.brokers import Broker
from tickets_producer.send import run
from tickets_producer.settings import Settings
from tickets_producer.summary import Summary


def console_consume(broker: Broker, topic: str) -> list[dict]:
    """Every value on `topic`, read by Kafka's own console consumer (not by our code)."""
    total = sum(broker.end_offsets(topic).values())
    out = broker.tool(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        str(total),
        "--timeout-ms",
        "30000",
    )
    values = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(values) == total, f"read {len(values)} of the {total} messages on {topic}"
    return values


def produce(broker: Broker, topic: str, count: int, seed: int) -> dict[str, str]:
    """Send `count` tickets with the real producer code; returns its ledger (acked id -> type)."""
    settings = Settings(bootstrap_servers=broker.bootstrap, topic=topic, ticket_count=count, ticket_seed=seed)
    summary, ledger = produce_with_ledger(settings)
    assert not summary.failed, summary.failure_examples
    assert summary.sent == count
    return ledger


def produce_with_ledger(settings: Settings) -> tuple[Summary, dict[str, str]]:
    """The product's producer run; its summary, and its ledger (acknowledged id -> type) kept here."""
    ledger: dict[str, str] = {}
    return run(settings, on_ack=ledger.__setitem__), ledger


def produce_in_background(
    broker: Broker, topic: str, count: int, seed: int, rate: float = 150
) -> tuple[threading.Thread, dict]:
    """The product's producer at `rate` tickets/s in a thread; `result["summary"]` and
    `result["ledger"]` once it returns."""
    result: dict = {}
    settings = Settings(
        bootstrap_servers=broker.bootstrap,
        topic=topic,
        ticket_count=count,
        ticket_seed=seed,
        tickets_per_second=rate,
    )

    def send() -> None:
        result["summary"], result["ledger"] = produce_with_ledger(settings)

    thread = threading.Thread(target=send)
    thread.start()
    return thread, result


def ledger_of(path: Path) -> dict[str, str]:
    """The producer's PRODUCER_LEDGER file: acknowledged id -> type."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {row["ticket_id"]: row["type"] for row in rows}


def read_counts(output_dir: Path) -> dict[str, int]:
    """The exported counts, parsed here independently of the job's code ({} before the first export)."""
    parts = sorted(output_dir.glob(PART_GLOB))
    assert len(parts) <= 1, f"more than one part file: {parts}"
    if not parts:
        return {}
    counts = {}
    for line in parts[0].read_text().splitlines():
        row = json.loads(line)
        counts[row["type"]] = row["ticket_count"]
    return counts


def expected_counts(*ledgers: Mapping[str, str]) -> dict[str, int]:
    """Count per type of the distinct acknowledged ids (invariant I2)."""
    merged: dict[str, str] = {}
    for ledger in ledgers:
        merged.update(ledger)
    return dict(Counter(merged.values()))


@dataclass(frozen=True)
class LakeContents:
    """The lake's two tables as delta-rs reads them (not Spark, not the job's code)."""

    tickets: list[tuple[str, str]]  # (ticket_id, type) of every row
    counts: dict[str, int]  # ticket_counts' rows of its last batch: type -> count

    def ledger(self) -> dict[str, str]:
        """The table's tickets as a ledger (id -> type); AssertionError if an id is there twice."""
        seen = Counter(ticket_id for ticket_id, _ in self.tickets)
        twice = [ticket_id for ticket_id, times in seen.items() if times > 1]
        assert not twice, f"{len(twice)} ticket ids more than once in the lake's tickets table: {twice[:3]}"
        return dict(self.tickets)


def read_lake(lake: str, storage_options: dict[str, str] | None = None) -> LakeContents:
    """Both tables of the lake at `lake` (a folder, or an s3a:// URI with `storage_options`), at
    their latest versions; empty when the job has not written them yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        tickets = DeltaTable(f"{lake}/tickets", storage_options=storage_options)
        counts = DeltaTable(f"{lake}/ticket_counts", storage_options=storage_options)
    except TableNotFoundError:
        return LakeContents([], {})
    rows = tickets.to_pyarrow_table(columns=["ticket_id", "type"]).to_pylist()
    history = counts.to_pyarrow_table().to_pylist()
    last = max((row["batch_id"] for row in history), default=None)
    return LakeContents(
        [(row["ticket_id"], row["type"]) for row in rows],
        {row["type"]: row["ticket_count"] for row in history if row["batch_id"] == last},
    )


def read_quarantine(quarantine_dir: Path) -> list[dict]:
    """Every quarantined message, parsed here independently of the job's code."""
    rows = []
    for path in sorted(quarantine_dir.glob("batch-*.jsonl")):
        rows.extend(json.loads(line) for line in path.read_text().splitlines())
    return rows


def produce_raw(
    broker: Broker, topic: str, values: Iterable[bytes | None], compression: str | None = None
) -> list[tuple[int, int]]:
    """Send raw values with a plain client (not the product's producer); returns (partition, offset)s.
    With `compression` ("gzip"), a value of megabytes that compresses to a few kilobytes is well
    under the broker's limit on the wire (the client checks the uncompressed size, hence its own
    larger limit)."""
    servers = broker.bootstrap.split(",")
    limit = 8_000_000 if compression else 2_000_000
    client = KafkaProducer(
        bootstrap_servers=servers, acks="all", max_request_size=limit, compression_type=compression
    )
    try:
        futures = [client.send(topic, key=f"raw-{i}".encode(), value=v) for i, v in enumerate(values)]
        client.flush()
        return [(meta.partition, meta.offset) for meta in (f.get(timeout=60) for f in futures)]
    finally:
        client.close()


def read_records(broker: Broker, topic: str, timeout: float = 60) -> list[ConsumerRecord]:
    """Every record of `topic` with its key and headers, read with a plain client to the end offsets
    that Kafka's own GetOffsetShell gives."""
    ends = {partition: end for partition, end in broker.end_offsets(topic).items() if end > 0}
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap.split(","), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, partition) for partition in ends]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp.partition] for tp in partitions):
            assert time.monotonic() < deadline, f"{topic}: not read to its end offsets {ends} in {timeout} s"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def group_lag(broker: Broker, group: str) -> dict[int, int | None]:
    """partition -> the group's lag, as Kafka's own kafka-consumer-groups.sh --describe shows it
    (None where the group has committed nothing for the partition)."""
    described = broker.tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--describe", "--group", group
    )
    lag: dict[int, int | None] = {}
    for line in described.splitlines():
        fields = line.split()
        if fields[:1] == [group]:  # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
            lag[int(fields[2])] = None if fields[5] == "-" else int(fields[5])
    return lag


@contextlib.contextmanager
def looking(look: Callable[[], None]) -> Iterator[None]:
    """`look` called again and again, in a thread of its own, for as long as the block runs: for
    what shows only for a moment, such as a process's arguments."""
    done = threading.Event()

    def keep_looking() -> None:
        while not done.is_set():
            look()

    watcher = threading.Thread(target=keep_looking)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def command_lines() -> set[bytes]:
    """The arguments of every process of the machine now, as /proc shows them to any user."""
    seen = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            seen.add(cmdline.read_bytes())
    return seen


def copy_ivy(source: Path, target: Path, skip: tuple[str, ...] = ()) -> None:
    """An Ivy directory (its cache, its jars) as it stands while other tests' starts may be using
    it: the files a resolution writes and deletes again (the reports on spark-submit's module, the
    locks) are left out, and a file gone between the listing and its copy is skipped."""

    def copy(src: str, dst: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(src, dst)

    ignore = shutil.ignore_patterns("*spark-submit-parent-*", "*.lck", ".resolve.lock", *skip)
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=ignore, copy_function=copy)


class RecordingEnv(dict):
    """An environment that remembers every variable a settings reader asks for."""

    def __init__(self, *args: Mapping[str, str]) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> object:
        self.asked.add(key)
        return super().get(key, default)
