"""The pipeline against a real Kafka broker through Spark's own Kafka source.

The ledger is the producer's set of acknowledged ids; the exported counts must equal it exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from tests.harness import console_consume, expected_counts, produce, read_counts, read_lake
from tickets_job.export import PART_GLOB
from tickets_job.transforms import SUPPORT_TEAMS
from tickets_local.jobs import Job, job_env, lake_env
from tickets_local.process import free_port

pytestmark = pytest.mark.e2e

LINE = re.compile(r'^\{"type":"(ACCOUNT|BILLING|GENERAL|TECHNICAL)","ticket_count":[1-9][0-9]*\}$')


def test_exported_counts_equal_the_ledger_in_the_documented_format(broker, topic, workdir):
    env = lake_env(broker, topic, workdir, EXPECTED_TICKETS="200", MAX_OFFSETS_PER_TRIGGER="50")
    job = Job(env, workdir / "job.log").start()
    ledger = produce(broker, topic, 200, seed=101)

    job.wait_for_total(200)
    assert job.stop() == 0

    assert read_counts(job.output_dir) == expected_counts(ledger)
    [part] = job.output_dir.glob(PART_GLOB)
    lines = part.read_text().splitlines()
    assert all(LINE.match(line) for line in lines), lines
    assert lines == sorted(lines)
    assert sorted(p.name for p in job.output_dir.iterdir()) == [part.name]
    log = job.log()
    assert "200/200 tickets counted" in log
    batches = job.batches()
    assert len(batches) >= 4, "MAX_OFFSETS_PER_TRIGGER=50 should spread 200 tickets over several batches"
    assert all(int(batch["rows"]) <= 50 for batch in batches)
    assert int(batches[-1]["total"]) == 200

    # The lake, read by delta-rs: each ticket once, the counts' history ending at the part file's.
    lake = read_lake(job.lake)
    assert lake.ledger() == ledger
    assert lake.counts == expected_counts(ledger)
    # make query's module over the same tables: the default query, then SQL of the user's own.
    query = [sys.executable, "-m", "tickets_query"]
    env = {**os.environ, "LAKE_URI": job.lake}
    by_team = subprocess.run(query, env=env, capture_output=True, text=True, check=True).stdout
    assert by_team.splitlines()[0].split() == ["support_team", "priority", "tickets"]
    assert by_team.endswith("(16 rows)\n"), by_team  # 4 teams x 4 priorities, all created just now
    sql = "SELECT support_team, count(*) AS n FROM tickets GROUP BY ALL"
    rows = subprocess.run([*query, "--json", sql], env=env, capture_output=True, text=True, check=True)
    teams = {row["support_team"]: row["n"] for row in map(json.loads, rows.stdout.splitlines())}
    assert teams == {SUPPORT_TEAMS[t]: n for t, n in expected_counts(ledger).items()}


def listening(process_group: int) -> set[str]:
    """The local addresses (host:port) of every TCP socket that a process of the group listens on,
    as `ss` lists them."""
    found = set()
    for line in subprocess.run(
        ["ss", "-ltnpH"], capture_output=True, text=True, check=True
    ).stdout.splitlines():
        fields = line.split()
        for pid in map(int, re.findall(r"pid=(\d+)", line)):
            with contextlib.suppress(OSError):  # ended meanwhile
                if os.getpgid(pid) == process_group:
                    found.add(fields[3])
    return found


def test_the_job_listens_on_loopback_only(broker, topic, workdir):
    """Its Spark UI, the driver's RPC and block-manager ports, the metrics, Py4J: all on 127.0.0.1
    by default (the UI took 0.0.0.0 and the RPC ports the machine's LAN address, unauthenticated)."""
    env = job_env(broker, topic, workdir, METRICS_PORT=str(free_port()), SPARK_UI_PORT=str(free_port()))
    job = Job(env, workdir / "job.log").start()
    produce(broker, topic, 10, seed=451)
    job.wait_for_total(10)
    addresses = listening(job.process.pid)  # the job runs in a session of its own
    assert job.stop() == 0
    ports = {address.rsplit(":", 1)[1] for address in addresses}
    assert {env["METRICS_PORT"], env["SPARK_UI_PORT"]} <= ports, addresses
    assert len(addresses) >= 4, addresses  # and the RPC, block-manager and Py4J ports
    assert all(address.rsplit(":", 1)[0] in LOOPBACK for address in addresses), addresses


LOOPBACK = {"127.0.0.1", "[::1]", "[::ffff:127.0.0.1]"}


def test_bounded_mode_drains_the_topic_and_exits(broker, topic, workdir):
    ledger = produce(broker, topic, 150, seed=301)
    job = Job(job_env(broker, topic, workdir), workdir / "job.log").start("--bounded")
    assert job.wait() == 0
    assert read_counts(job.output_dir) == expected_counts(ledger)


def test_kafkas_own_console_consumer_agrees_with_the_ledger(broker, topic):
    ledger = produce(broker, topic, 200, seed=401)
    values = console_consume(broker, topic)
    assert len(values) == 200, "idempotent producer: each ticket is on the topic exactly once"
    assert {v["ticket_id"]: v["type"] for v in values} == ledger
    assert Counter(v["type"] for v in values) == Counter(ledger.values())
