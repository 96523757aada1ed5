"""The table of docs/reports/RELIABILITY.md, written from the outcomes of a real run of the scenarios."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


@dataclass(frozen=True)
class Outcome:
    scenario: str
    trials: int
    acknowledged: int
    lost: int | None  # None: the scenario counts nothing (a refusal)
    counted_twice: int | None
    quarantined: int
    without_one_verdict: int | None = None  # messages read minus their verdicts, over every batch (I4)


def _cell(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def write_report(path: Path, outcomes: list[Outcome]) -> None:
    rows = [
        f"| {o.scenario} | {o.trials} | {o.acknowledged:,} | {_cell(o.lost)} | {_cell(o.counted_twice)} "
        f"| {o.quarantined:,} | {_cell(o.without_one_verdict)} |"
        for o in outcomes
    ]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kills = os.environ.get("SOAK_KILLS", "5")
    text = f"""# Reliability: no ticket lost, none counted twice

Written by `make reliability-report` from a real run ({when}, {platform.machine()},
{os.cpu_count()} cores, SOAK_KILLS={kills}): every scenario below against the real local Kafka
broker and the real job process, checked against the ledger of ids the broker acknowledged.

The invariants: **I1 no loss**, every acknowledged ticket is counted in the exported output;
**I2 no double count**, for every type the exported count equals the number of distinct
acknowledged ids of that type; **I3 each batch written once**, a batch that Spark re-runs after a
crash leaves the output identical, and a reader never sees a partial or empty file; **I4 one
verdict per message**, every message read ends in exactly one place (counted, dropped as a
duplicate of a counted id, or quarantined), so that in every micro-batch the rows read equal
counted + duplicates + quarantined, and a decision that depends on time (too old, in the future)
is taken once per message, with the batch's own timestamp, never twice at two moments.

*Lost* and *counted twice* compare, per ticket type, the exported count with the distinct
acknowledged ids (I1 and I2). *Without one verdict* adds up, over every micro-batch line of the
job's log, the rows read minus counted, duplicates and quarantined (I4); the figures come from
Spark's Kafka source, Spark's deduplication operator and the job's sink. I3 is asserted by the
tests themselves (`tests/e2e/test_reliability.py`).

| scenario | trials | distinct tickets acked | lost | counted twice | quarantined | without one verdict |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Reproduce: `make reliability-report` (this file), or `make soak` for scenario 2 with 30 kills.
The same scenarios run in `make test` (and so in CI) without writing this file.
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
