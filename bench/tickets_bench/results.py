"""Where the benchmarks work and how their figures are kept: one Results of a run, keyed by name;
each figure the median of its runs, with every run's value beside it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from statistics import median
from typing import TypeVar

from tickets_local.process import ROOT

log = logging.getLogger(__name__)
WORK = ROOT / "data" / "bench"

# Records per micro-batch when draining a backlog (the default, tuned by these measurements).
BACKLOG_OFFSETS = "200000"

T = TypeVar("T")


def repeat(runs: int, measure: Callable[[int], T]) -> list[T]:
    """`measure(run)` for run 0, 1, ... `runs - 1`, one after the other."""
    return [measure(run) for run in range(runs)]


def median_by(runs: Sequence[T], key: Callable[[T], float]) -> T:
    """The run whose `key` is the median (the upper one of an even count): it stands for the runs
    where a figure cannot be a median itself (a profile, a breakdown)."""
    return sorted(runs, key=key)[len(runs) // 2]


class Results:
    """The measurements of one run of the benchmark, keyed by name:
    {key: {"label", "value" (the median of the samples), "samples", "unit"}}."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, object]] = {}

    def add(self, key: str, label: str, samples: float | Sequence[float], unit: str) -> float:
        samples = [float(samples)] if isinstance(samples, int | float) else [float(s) for s in samples]
        value = float(median(samples))
        spread = f" ({min(samples):,.2f} to {max(samples):,.2f})" if len(samples) > 1 else ""
        log.info("%-34s %-62s %12.2f %s%s", key, label, value, unit, spread)
        self.figures[key] = {"label": label, "value": value, "samples": samples, "unit": unit}
        return value
