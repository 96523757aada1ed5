"""Where the benchmarks work and how their figures are kept: one Results of a run, keyed by name."""

from __future__ import annotations

import logging

from tickets_local.process import ROOT

log = logging.getLogger(__name__)
WORK = ROOT / "data" / "bench"


# Records per micro-batch when draining a backlog (the default, tuned by these measurements).
BACKLOG_OFFSETS = "200000"


class Results:
    """The measurements of one run, keyed by name: {key: {"label", "value", "unit"}}."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, object]] = {}

    def add(self, key: str, label: str, value: float, unit: str) -> float:
        log.info("%-34s %-62s %12.2f %s", key, label, value, unit)
        self.figures[key] = {"label": label, "value": value, "unit": unit}
        return value
