"""The reliability scenarios (docs/reports/RELIABILITY.md) against the real broker and the real job process.

Each checks, against the producers' ledgers of acknowledged ids:
  I1 no loss and I2 no double count: the exported count of each type equals the number of
     distinct acknowledged ids of that type;
  I3 each batch written once: a reader never sees a missing, doubled or partial part file, and
     a re-run batch leaves the output as it was;
  I4 one verdict per message: in every micro-batch, rows read = counted + duplicates + quarantined.
Set RELIABILITY_REPORT=path to write the table of results (make reliability-report).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.harness import (
    expected_counts,
    produce,
    produce_in_background,
    produce_raw,
    produce_with_ledger,
    read_counts,
    read_lake,
    read_quarantine,
    read_records,
)
from tests.reliability_report import Outcome, write_report
from tickets_job.export import PART_GLOB, printable
from tickets_local.brokers import Broker
from tickets_local.jobs import Job, lake_env
from tickets_local.process import wait_until
from tickets_producer.settings import Settings
from tickets_producer.tickets import encode_ticket, generate_tickets, iso_utc, utc_now

pytestmark = pytest.mark.e2e

KILLS = int(os.environ.get("SOAK_KILLS", "5"))
OUTCOMES: list[Outcome] = []


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    if os.environ.get("RELIABILITY_REPORT"):
        write_report(Path(os.environ["RELIABILITY_REPORT"]), OUTCOMES)


def without_one_verdict(job: Job) -> int:
    """Over every batch event of a job: rows read that are not counted, duplicate or quarantined
    (or verdicts beyond the rows read)."""
    batches = job.batches()
    assert batches, "no batch event from the job"
    verdicts = ("counted", "duplicates", "quarantined")
    return sum(abs(int(b["rows"]) - sum(int(b[v]) for v in verdicts)) for b in batches)


def check(scenario: str, job: Job, ledger: dict[str, str], trials: int = 1, quarantined: int = 0) -> None:
    """Record the scenario's outcome, then assert I1 and I2 on the final output and I4 on the log,
    and on the lake: each counted ticket once in its tickets table, the counts after its last batch
    those of the part file."""
    counts = read_counts(job.output_dir)
    expected = expected_counts(ledger)
    lost = sum(max(0, n - counts.get(t, 0)) for t, n in expected.items())
    twice = sum(max(0, n - expected.get(t, 0)) for t, n in counts.items())
    unjudged = without_one_verdict(job)
    OUTCOMES.append(Outcome(scenario, trials, len(ledger), lost, twice, quarantined, unjudged))
    assert counts == expected
    assert unjudged == 0 and "have no verdict" not in job.log()
    lake = read_lake(job.lake)
    assert lake.ledger() == ledger
    assert lake.counts == counts


class PartFileWatcher:
    """Reads the output folder in a loop, as a consumer of the result would (I3, reader side)."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.problems: list[str] = []
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PartFileWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        seen_one = False
        while not self._stop.wait(0.01):
            parts = list(self.output_dir.glob(PART_GLOB))
            if len(parts) > 1 or (seen_one and not parts):
                self.problems.append(f"{len(parts)} part files")
            if not parts:
                continue
            seen_one = True
            try:
                lines = parts[0].read_text().splitlines()
            except FileNotFoundError:
                self.problems.append("the part file vanished while being opened")
                continue
            if not lines or not all(line.startswith("{") and line.endswith("}") for line in lines):
                self.problems.append(f"partial file: {lines!r}")
            self.reads += 1


def test_1_graceful_stop_with_tickets_produced_while_down(broker, topic, workdir):
    env = lake_env(broker, topic, workdir)
    first = produce(broker, topic, 120, seed=1101)
    job = Job(env, workdir / "job.log").start()
    job.wait_for_total(120)
    assert job.stop() == 0
    second = produce(broker, topic, 80, seed=1102)
    job = Job(env, workdir / "job.log").start()
    job.wait_for_total(200)
    assert job.stop() == 0
    check("1. graceful stop, tickets produced while down, restart", job, {**first, **second}, trials=2)


def test_2_kill_9_at_random_moments(broker, topic, workdir):
    rng = random.Random(int(os.environ.get("SOAK_SEED", "2")))
    env = lake_env(broker, topic, workdir, MAX_OFFSETS_PER_TRIGGER="60", TRIGGER_INTERVAL="200 milliseconds")
    ledger = produce(broker, topic, 900, seed=1201)
    job = Job(env, workdir / "job.log")
    with PartFileWatcher(job.output_dir) as watcher:
        for trial in range(KILLS):
            before = sum(read_counts(job.output_dir).values())
            job.start()
            # Kill once the job is busy: after its first new export, at a random point later on.
            job.wait_for_total(before + 1)
            threading.Event().wait(rng.uniform(0.0, 1.5))
            job.kill()
            ledger |= produce(broker, topic, 60, seed=1300 + trial)  # more while it is down
        # The rest in batches of up to 1,000: in batches of 60, each with its two Delta commits, the
        # drain took 60 s on an idle machine and more than 180 s beside the Docker test in CI.
        job = Job({**env, "MAX_OFFSETS_PER_TRIGGER": "1000"}, workdir / "job.log").start()
        job.wait_for_total(len(ledger))
        assert job.stop() == 0
    assert watcher.problems == [] and watcher.reads > 0
    check(f"2. kill -9 of driver and JVM at {KILLS} random moments", job, ledger, trials=KILLS)


def killed_and_restarted(broker: Broker) -> None:
    broker.kill()
    broker.up()


def paused_for_8_seconds(broker: Broker) -> None:
    broker.pause()
    try:
        threading.Event().wait(8)  # the fault itself: the broker frozen for 8 s
    finally:
        broker.resume()


@pytest.mark.parametrize(
    ("fault", "seed", "scenario"),
    [
        pytest.param(
            killed_and_restarted, 1401, "3. broker killed (SIGKILL) and restarted while sending", id="3"
        ),
        pytest.param(
            paused_for_8_seconds, 1501, "4. broker paused (SIGSTOP 8 s, SIGCONT) while sending", id="4"
        ),
    ],
)
def test_3_4_a_broker_fault_while_the_producer_sends(broker, topic, workdir, fault, seed, scenario):
    job = Job(lake_env(broker, topic, workdir), workdir / "job.log").start()
    thread, result = produce_in_background(broker, topic, 600, seed=seed)
    wait_until(lambda: sum(broker.end_offsets(topic).values()) >= 100, 60, "the first 100 tickets")
    fault(broker)
    thread.join(timeout=180)
    summary, ledger = result["summary"], result["ledger"]
    assert summary.failed == {}, "the producer retries through the fault"
    job.wait_for_total(len(ledger))
    assert job.stop() == 0
    check(scenario, job, ledger)


FORGED = "\n\x1b[2J2026-12-02 00:00:00,000 INFO tickets_job.progress: 1000000/1000000 tickets counted"
MALFORMED: list[tuple[str, bytes | None, str]] = [
    ("not JSON", b"hello, I have a problem", "malformed JSON"),
    ("truncated JSON", b'{"ticket_id":"m-1","type":"BILL', "malformed JSON"),
    ("JSON array", b'[{"ticket_id":"m-2"}]', "malformed JSON"),
    ("JSON number", b"42", "malformed JSON"),
    ("JSON null", b"null", "malformed JSON"),
    ("missing field", b'{"ticket_id":"m-3","created_at":"2026-01-01T00:00:00Z"}', "missing or invalid type"),
    ("wrong type", b'{"ticket_id":"m-4","type":"BILLING","created_at":true}', "malformed JSON"),
    (
        "unknown ticket type",
        b'{"ticket_id":"m-5","type":"SALES","created_at":"@now"}',
        "unknown type 'SALES'",
    ),
    ("empty value", b"", "empty value"),
    ("null value", None, "null value"),
    ("invalid UTF-8", b'{"ticket_id":"m-6","type":"\xff\xfe"}', "invalid UTF-8"),
    ("very large message", b"x" * 512_000, "malformed JSON"),
    (
        "created_at in the future",
        b'{"ticket_id":"m-7","type":"BILLING","created_at":"2999-01-01T00:00:00Z"}',
        "created_at in the future",
    ),
    (
        "created_at far in the past",
        b'{"ticket_id":"m-8","type":"BILLING","created_at":"1999-01-01T00:00:00Z"}',
        "older than the deduplication horizon",
    ),
    # Hostile: a type that would forge a log line and swell the quarantine, an id that would swell
    # the deduplication state, a parser's depth, and what line-based readers take for a line end.
    (
        "a 100,000-character type with a newline and ESC",
        json.dumps({"ticket_id": "m-9", "type": FORGED + "X" * 100_000, "created_at": "@now"}).encode(),
        f"unknown type '{FORGED[:40]}...' ({len(FORGED) + 100_000} characters)",
    ),
    (
        "a 10,000-character ticket_id",
        json.dumps({"ticket_id": "m" * 10_000, "type": "BILLING", "created_at": "@now"}).encode(),
        "ticket_id longer than 200 characters",
    ),
    ("10,000 levels of nesting", b"[" * 10_000 + b"]" * 10_000, "malformed JSON"),
    (
        "U+2028, U+2029 and C1 controls in a type",
        json.dumps({"ticket_id": "m-10", "type": "A\u2028B\u2029C\x85D\x9bE", "created_at": "@now"}).encode(),
        "unknown type 'A\u2028B\u2029C\x85D\x9bE'",
    ),
]


def test_5_malformed_input_is_quarantined_and_valid_tickets_counted(broker, topic, workdir):
    now = iso_utc(utc_now()).encode()  # the producer's own format
    values = [value.replace(b"@now", now) if value else value for _, value, _ in MALFORMED]
    extra = b'{"ticket_id":"ok-extra","type":"GENERAL","created_at":"' + now + b'","channel":"phone"}'
    job = Job(lake_env(broker, topic, workdir), workdir / "job.log").start()
    ledger = produce(broker, topic, 100, seed=1601)
    places = produce_raw(broker, topic, [*values, extra])
    ledger |= produce(broker, topic, 100, seed=1602)
    ledger["ok-extra"] = "GENERAL"  # unexpected extra fields are fine: counted

    job.wait_for_total(len(ledger))
    wait_until(lambda: len(read_quarantine(workdir / "quarantine")) >= len(MALFORMED), 60, "the quarantine")
    assert job.stop() == 0

    quarantined = {(row["partition"], row["offset"]): row for row in read_quarantine(workdir / "quarantine")}
    assert len(quarantined) == len(MALFORMED)
    for (name, _, reason), value, place in zip(MALFORMED, values, places[:-1], strict=True):
        row = quarantined[place]  # found by the partition and offset the broker gave the message
        assert reason in row["reason"], (name, row)
        assert row["topic"] == topic
        assert len(row["raw"] or "") <= 1000
        assert row["value_bytes"] == (None if value is None else len(value)), name
    assert "WARNING tickets_job.sink: quarantined" in job.log()
    # Hostile values are cut short and escaped: no reason past a few lines' length, no quarantine
    # line past the raw preview and its escapes, nothing in the log a terminal would act on.
    assert max(len(row["reason"]) for row in quarantined.values()) <= 120
    lines = [
        line for path in (workdir / "quarantine").glob("*.jsonl") for line in path.read_bytes().split(b"\n")
    ]
    assert max(len(line) for line in lines) < 8_000
    assert not any(char in b"".join(lines).decode() for char in "\u2028\u2029\x85\x9b")
    assert "\x1b" not in job.log()
    assert not any(line.endswith("1000000/1000000 tickets counted") for line in job.log().splitlines())
    assert sum(int(b["quarantined"]) for b in job.batches()) == len(MALFORMED)

    # The dead-letter topic holds each rejected message, byte for byte, with its reason and origin
    # (a null value as an empty one that says so: a null record would be a tombstone).
    dead_letters = {record.key: record for record in read_records(broker, f"{topic}.dlq")}
    assert len(dead_letters) == len(MALFORMED)
    for (name, _, reason), value, (partition, offset) in zip(MALFORMED, values, places[:-1], strict=True):
        record = dead_letters[f"{topic}-{partition}-{offset}".encode()]
        assert record.value == (b"" if value is None else value), name
        headers = {key: header.decode() for key, header in record.headers}
        assert headers.get("dlq.value_null") == ("true" if value is None else None), name
        assert headers["dlq.value_bytes"] == str(len(value or b"")) and "dlq.truncated" not in headers, name
        assert not any(char in headers["dlq.reason"] for char in "\x1b\n\u2028\u2029\x85\x9b"), name
        assert printable(reason) in headers["dlq.reason"], (name, headers)  # escaped as in the quarantine
        assert (headers["dlq.topic"], headers["dlq.partition"], headers["dlq.offset"]) == (
            topic,
            str(partition),
            str(offset),
        )
        assert headers["dlq.batch"].isdigit() and headers["dlq.key"].startswith("raw-"), headers
    check(
        f"5. malformed input ({len(MALFORMED)} classes) between valid tickets",
        job,
        ledger,
        quarantined=len(quarantined),
    )


def test_6_duplicates_from_a_rerun_producer_are_counted_once(broker, topic, workdir):
    job = Job(lake_env(broker, topic, workdir), workdir / "job.log").start()
    first = produce(broker, topic, 150, seed=1701)
    again = produce(broker, topic, 150, seed=1701)  # the same tickets, sent again
    assert again.keys() == first.keys()
    more = produce(broker, topic, 50, seed=1702)
    assert sum(broker.end_offsets(topic).values()) == 350
    job.wait_for_total(200)
    assert job.stop() == 0
    check("6. duplicates: a producer re-run sends the same 150 ids again", job, {**first, **more})


def test_7_topic_missing_when_the_job_starts(broker, workdir):
    topic = "created_later_" + workdir.name[-8:].replace("-", "_")
    # The operator made the dead-letter topic; the producer's topic comes later.
    topics = "org.apache.kafka.tools.TopicCommand"
    broker.tool(topics, "--create", "--topic", f"{topic}.dlq", "--config", "cleanup.policy=compact")
    job = Job(lake_env(broker, topic, workdir), workdir / "job.log").start()
    job.wait_until_started()
    broker.kafka_sh("topic", topic)
    ledger = produce(broker, topic, 200, seed=1801)
    job.wait_for_total(200)
    assert job.stop() == 0
    check("7. topic missing when the job starts, created later", job, ledger)


def test_8_backlog_after_downtime_drains_in_bounded_batches(broker, topic, workdir):
    env = lake_env(broker, topic, workdir, MAX_OFFSETS_PER_TRIGGER="200")
    ledger = produce(broker, topic, 100, seed=1901)
    job = Job(env, workdir / "job.log").start()
    job.wait_for_total(100)
    assert job.stop() == 0
    ledger |= produce(broker, topic, 3000, seed=1902)  # while the job is down
    job = Job(env, workdir / "job2.log").start()
    job.wait_for_total(3100, timeout=300)
    assert job.stop() == 0
    rows = [int(batch["rows"]) for batch in job.batches()]
    assert sum(rows) == 3000 and max(rows) <= 200 and len(rows) >= 15, rows
    check("8. backlog of 3,000 after downtime, 200 per micro-batch", job, ledger, trials=len(rows))


def test_9_a_checkpoint_of_another_query_is_refused(broker, topic, workdir):
    produce(broker, topic, 50, seed=2001)
    checkpoint = workdir / "checkpoint"
    scratch = {"SPARK_LOCAL_DIRS": str(workdir), "SPARK_SUBMIT_OPTS": f"-Djava.io.tmpdir={workdir}"}
    subprocess.run(
        [sys.executable, str(Path(__file__).with_name("other_query.py"))],
        env={**lake_env(broker, topic, workdir), **scratch},  # its JVM is killed at exit: no files in /tmp
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "other_query.log").open("w"),
        check=True,
        timeout=300,
    )
    assert (checkpoint / "query" / "commits").is_dir()
    job = Job(lake_env(broker, topic, workdir), workdir / "job.log").start()
    assert job.wait() == 3
    assert "was written by an earlier version of the query" in job.log()
    assert "make clean" in job.log()
    assert not (workdir / "output").exists()

    (checkpoint / "pipeline.json").write_text(json.dumps({"query_version": 1}))
    job = Job(lake_env(broker, topic, workdir), workdir / "job2.log").start()
    assert job.wait() == 3
    assert "was written by version 1 of the query" in job.log()
    OUTCOMES.append(Outcome("9. checkpoint of another query: refused, exit 3", 2, 50, None, None, 0))


def straddling(seed: int, count: int, limits: list[datetime], spread: timedelta) -> list[bytes]:
    """`count` valid tickets dated evenly across [limit, limit + spread) for each limit, shuffled,
    with a tenth of them sent a second time further on."""
    rng = random.Random(seed)
    dates = [limit + spread * rng.random() for limit in limits for _ in range(count // len(limits))]
    values = [
        encode_ticket(ticket)[1] for ticket in generate_tickets(len(dates), seed, clock=iter(dates).__next__)
    ]
    rng.shuffle(values)
    return values + rng.sample(values, len(values) // 10)


def test_10_tickets_straddling_both_time_limits_in_a_draining_backlog(broker, topic, workdir):
    """With a 15-minute horizon a ticket is accepted while its created_at lies in [now - 5 min,
    now + 5 min], `now` being the batch's timestamp, which moves while the backlog drains. Tickets
    are dated across both limits as they will stand during the drain: each batch accepts some and
    quarantines others, and the same ticket would be judged differently by two batches."""
    env = lake_env(broker, topic, workdir, DEDUP_HORIZON_MINUTES="15", MAX_OFFSETS_PER_TRIGGER="150")
    now = utc_now()
    window = timedelta(minutes=5)
    values = straddling(2101, 2000, [now - window, now + window], spread=timedelta(seconds=150))
    places = produce_raw(broker, topic, values)
    job = Job(env, workdir / "job.log").start()
    wait_until(lambda: sum(int(b["rows"]) for b in job.batches()) >= len(values), 300, "the drain")
    assert job.stop() == 0

    quarantine = read_quarantine(workdir / "quarantine")
    quarantined = {(row["partition"], row["offset"]) for row in quarantine}
    assert len(quarantined) == len(quarantine), "a message quarantined twice"
    tickets = [json.loads(value) for value in values]
    counted_ids = {
        t["ticket_id"]: t["type"]
        for t, place in zip(tickets, places, strict=True)
        if place not in quarantined
    }
    batches = list(job.batches())
    assert len(batches) >= 10 and sum(int(b["rows"]) for b in batches) == len(values)
    # Both limits were straddled: each of them sent tickets to both places.
    reasons = {row["reason"] for row in quarantine}
    assert {"created_at in the future", "created_at older than the deduplication horizon"} <= reasons, reasons
    early = [t for t, place in zip(tickets, places, strict=True) if t["created_at"] < iso_utc(now)]
    late = [t for t, place in zip(tickets, places, strict=True) if t["created_at"] > iso_utc(now)]
    for group in (early, late):
        assert 0 < sum(t["ticket_id"] in counted_ids for t in group) < len(group)
    check(
        f"10. {len(values):,} messages straddling both time limits, drained in {len(batches)} batches",
        job,
        counted_ids,
        trials=len(batches),
        quarantined=len(quarantined),
    )


def test_11_large_and_rate_limited_producer_runs_are_all_accepted(broker, topic, workdir):
    """Every ticket is dated when it is made, before its send: none lands in the future, at any
    count or rate."""
    ledger = produce(broker, topic, 1_000_000, seed=2201)
    paced, paced_ledger = produce_with_ledger(
        Settings(
            bootstrap_servers=broker.bootstrap,
            topic=topic,
            ticket_count=20_000,
            ticket_seed=2202,
            tickets_per_second=2_000,
        )
    )
    assert paced.sent == 20_000 and not paced.failed
    job = Job(lake_env(broker, topic, workdir), workdir / "job.log").start("--bounded")
    assert job.wait(timeout=900) == 0
    assert not (workdir / "quarantine").exists() or not any((workdir / "quarantine").iterdir())
    check("11. 1,000,000 tickets at full speed, then 20,000 at 2,000/s", job, {**ledger, **paced_ledger})


def dead_letters_by_place(broker: Broker, topic: str) -> dict[tuple[int, int], list]:
    """(partition, offset) of the rejected message -> its records in the dead-letter topic."""
    found: dict[tuple[int, int], list] = {}
    for record in read_records(broker, f"{topic}.dlq", timeout=300):
        headers = dict(record.headers)
        found.setdefault((int(headers["dlq.partition"]), int(headers["dlq.offset"])), []).append(record)
    return found


def test_15_a_record_that_inflates_to_3_mb_is_dead_lettered_cut_and_the_job_goes_on(broker, topic, workdir):
    """3,000,000 bytes of `x`, gzipped to ~3 KB, between good tickets: the dead-letter topic takes
    records up to 2 MiB, so the whole value could never be written there (the job stopped for good
    on it, at every restart). It is quarantined, dead-lettered cut to 1,000,000 bytes with headers
    that say so, and every ticket around it is counted."""
    job = Job(lake_env(broker, topic, workdir), workdir / "job.log").start()
    ledger = produce(broker, topic, 100, seed=2501)
    [place] = produce_raw(broker, topic, [b"x" * 3_000_000], compression="gzip")
    ledger |= produce(broker, topic, 100, seed=2502)
    job.wait_for_total(len(ledger))
    wait_until(lambda: read_quarantine(workdir / "quarantine"), 60, "the quarantine")
    assert job.stop() == 0

    [row] = read_quarantine(workdir / "quarantine")
    assert ((row["partition"], row["offset"]), row["value_bytes"]) == (place, 3_000_000)
    [record] = dead_letters_by_place(broker, topic)[place]
    headers = {key: value.decode() for key, value in record.headers}
    assert record.value == b"x" * 1_000_000
    assert (headers["dlq.value_bytes"], headers["dlq.truncated"]) == ("3000000", "value")
    check("15a. a record inflating to 3,000,000 bytes between good tickets", job, ledger, quarantined=1)


def poison(index: int) -> bytes:
    """The rejected message number `index` of test 15b: 1,000,000 bytes, most of them `x`."""
    return f"{index:06d}".encode() + b"x" * 999_994


def kcat_values(broker: Broker, topic: str) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of every record of `topic`, read by kcat (an independent client, and quick with
    records of a megabyte) as they stream in: values without a newline only."""
    command = ["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"]
    with subprocess.Popen([*command, "-f", "%k\n%s\n"], stdout=subprocess.PIPE) as kcat:
        assert kcat.stdout is not None
        while key := kcat.stdout.readline():
            yield key.rstrip(b"\n"), kcat.stdout.readline().rstrip(b"\n")
    assert kcat.returncode == 0


def test_15_a_batch_of_1200_compressed_1_mb_rejects_at_the_defaults(broker, topic, workdir):
    """1,200 rejected messages of 1,000,000 bytes each (compressed, ~1 KB each on the wire) in one
    micro-batch at the job's defaults (a 1 GiB driver, 200,000 offsets a batch): 1.2 GB that the
    driver held whole when it wrote the dead letters itself, and 500 of them at once in a poll of
    Kafka's client. The bounded run ends with exit 0, every ticket counted, every reject
    quarantined and in the dead-letter topic once, byte for byte."""
    env = lake_env(broker, topic, workdir)
    ledger = produce(broker, topic, 100, seed=2601)
    places = produce_raw(broker, topic, (poison(index) for index in range(1200)), compression="gzip")
    ledger |= produce(broker, topic, 100, seed=2602)
    job = Job(env, workdir / "job.log").start("--bounded")
    assert job.wait(timeout=900) == 0, job.log()[-3000:]

    assert len(job.batches()) == 1, "one micro-batch for the whole topic"
    quarantined = {(row["partition"], row["offset"]): row for row in read_quarantine(workdir / "quarantine")}
    assert quarantined.keys() == set(places)
    assert {row["value_bytes"] for row in quarantined.values()} == {1_000_000}
    index_of = {f"{topic}-{partition}-{offset}".encode(): i for i, (partition, offset) in enumerate(places)}
    seen = []
    for key, value in kcat_values(broker, f"{topic}.dlq"):
        seen.append(key)
        assert value == poison(index_of[key]), key
    assert sorted(seen) == sorted(index_of)  # each once
    check("15b. 1,200 compressed 1,000,000-byte rejects in one micro-batch", job, ledger, quarantined=1200)
