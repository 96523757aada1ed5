"""docs/reports/BENCHMARKS.md and docs/reports/benchmarks.png from the measurements of `make bench`.

The measurements arrive keyed by name (see tickets_bench.bench), with the previous run's beside them
(docs/reports/benchmarks.json keeps both). Every target is computed here from keys of this run, and the
report states only the figures, the goals and whether each is met: what they mean is for the
reader (and the closing notes of the work), not for a generated file that would keep saying it
after the figures change.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# key -> {"label": ..., "value": ..., "unit": ...}
Figures = Mapping[str, Mapping[str, object]]

SYSTEMS = {  # backlog readers, by key prefix: label and colour (the same in every panel and run)
    "processing.spark_job": ("Spark job", "#c44e52"),
    "processing.count_only": ("Spark count-only read", "#dd8452"),
    "processing.plain_consumer": ("plain kafka-python consumer", "#4c72b0"),
    "processing.consumer_perf": ("Kafka ConsumerPerformance (Java)", "#55a868"),
}
SECTIONS = ("producer", "processing", "whole", "profile", "memory", "monitoring", "latency", "demo")


@dataclass(frozen=True)
class Target:
    name: str
    goal: str  # ">= 0.7", "<= 10"
    value: Callable[[Figures], float]
    marks: str = ""  # where the plot draws the goal: figures whose key starts with this...
    times: str = ""  # ...at goal x this reader's throughput at the largest backlog, if given

    @property
    def threshold(self) -> float:
        return float(self.goal[2:])

    def check(self, figures: Figures) -> tuple[float | None, bool | None]:
        try:
            measured = self.value(figures)
        except (KeyError, IndexError, ValueError):  # not measured in that run
            return None, None
        compare = {">=": operator.ge, "<=": operator.le}[self.goal[:2]]
        return measured, compare(measured, self.threshold)


def value(figures: Figures, key: str) -> float:
    return float(figures[key]["value"])


def sizes(figures: Figures) -> list[int]:
    """The backlog sizes the Spark job was measured on, smallest first."""
    return sorted(int(key.rsplit(".", 1)[1]) for key in figures if key.startswith("processing.spark_job."))


def at_largest(prefix: str) -> Callable[[Figures], float]:
    return lambda f: value(f, f"{prefix}.{sizes(f)[-1]}")


def ratio(top: Callable[[Figures], float], bottom: Callable[[Figures], float]) -> Callable[[Figures], float]:
    return lambda f: top(f) / bottom(f)


def best_latency(quantile: str) -> Callable[[Figures], float]:
    return lambda f: min(float(v["value"]) for k, v in f.items() if k.startswith(f"latency.{quantile}."))


def against(baseline: str, label: str, goal: str) -> Target:
    """The job's throughput at the largest backlog over `baseline`'s, drawn on the plot."""
    job = "processing.spark_job"
    return Target(
        f"Spark job / {label}, largest backlog",
        goal,
        ratio(at_largest(job), at_largest(baseline)),
        marks=job,
        times=baseline,
    )


TARGETS = [
    against("processing.count_only", "Spark count-only read", ">= 0.7"),
    against("processing.plain_consumer", "plain kafka-python consumer", ">= 1.5"),
    Target(
        "bounded job run / plain consumer run, process start to exit, largest backlog",
        "<= 1",
        lambda f: value(f, "whole.spark_job") / value(f, "whole.plain_consumer"),
    ),
    Target(
        "200-ticket demo: job start -> final JSON, s",
        "<= 10",
        lambda f: value(f, "demo.final_json"),
        marks="demo.final_json",
    ),
    Target(
        "200-ticket demo: job start -> query started, s",
        "<= 5",
        lambda f: value(f, "demo.query_started"),
        marks="demo.query_started",
    ),
    Target("latency p50, best trigger, s", "<= 0.5", best_latency("p50"), marks="latency.p50."),
    Target("latency p99, best trigger, s", "<= 1", best_latency("p99"), marks="latency.p99."),
    Target(
        "driver peak resident memory with the largest backlog's ids in the state, MiB",
        "<= 1536",
        lambda f: value(f, "memory.driver_peak"),
    ),
    Target(
        "group commits, dead-letter topic and metrics: the job slower by, %, largest backlog",
        "<= 5",
        lambda f: value(f, "monitoring.cost"),
    ),
    Target(
        "producer peak resident memory, 10x the tickets / 1x (streams, does not grow with the count)",
        "<= 1.2",
        lambda f: max(producer_peaks(f)) / min(producer_peaks(f)),
    ),
]


def producer_peaks(figures: Figures) -> list[float]:
    """make produce's peak memory by ticket count, smallest count first."""
    keys = sorted(
        (k for k in figures if k.startswith("memory.producer_peak.")), key=lambda k: int(k.rsplit(".", 1)[1])
    )
    return [value(figures, key) for key in keys]


def _number(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def tables(run: Figures, previous: Figures) -> str:
    lines = ["| measurement | this run | previous run | unit |", "|---|---|---|---|"]
    for section in SECTIONS:
        for key, figure in run.items():
            if key.split(".")[0] == section:
                before = previous.get(key, {}).get("value")
                lines.append(
                    f"| {figure['label']} | {_number(float(figure['value']))} | "
                    f"{_number(None if before is None else float(before))} | {figure['unit']} |"
                )
    goals = ["| target | goal | this run | met | previous run | met then |", "|---|---|---|---|---|---|"]
    for target in TARGETS:
        now, ok = target.check(run)
        then, ok_then = target.check(previous)
        cells = [target.name, target.goal, _number(now), _met(ok), _number(then), _met(ok_then)]
        goals.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n## Targets\n\n" + "\n".join(goals) + "\n"


def plot(run: Figures, previous: Figures, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (throughput, times) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    for prefix, (label, colour) in SYSTEMS.items():
        for figures, style, suffix in ((run, "-", ""), (previous, "--", " (previous run)")):
            points = sorted(
                (int(k.rsplit(".", 1)[1]), float(v["value"]))
                for k, v in figures.items()
                if k.startswith(prefix + ".")
            )
            if points:
                throughput.plot(
                    *zip(*points, strict=True),
                    style,
                    marker="o",
                    color=colour,
                    label=label + suffix,
                    alpha=1.0 if style == "-" else 0.45,
                )
    job_colour = SYSTEMS["processing.spark_job"][1]
    for number, target in enumerate(t for t in TARGETS if t.times):
        if sizes(run):
            largest = sizes(run)[-1]
            goal = target.threshold * value(run, f"{target.times}.{largest}")
            throughput.plot([largest], [goal], marker="_", markersize=28, mew=3, color=job_colour)
            reader = SYSTEMS[target.times][0]
            throughput.annotate(
                f"target: {target.goal[3:]}x {reader}",
                (largest, goal),
                textcoords="offset points",
                xytext=(-10, 6 if number == 0 else -12),  # one label above its mark, the next below
                ha="right",
                fontsize=7,
                color=job_colour,
            )
    throughput.set(
        xscale="log",
        yscale="log",
        xlabel="backlog (tickets)",
        ylabel="tickets/s",
        title="Draining a backlog (solid: this run, dashed: previous run)",
    )
    throughput.legend(fontsize=7, loc="lower right")
    throughput.grid(True, which="both", alpha=0.3)

    rows = [(k, v) for k, v in run.items() if k.split(".")[0] in ("demo", "latency") and v["unit"] == "s"]
    marks = [target for target in TARGETS if target.marks and not target.times]
    for position, (key, figure) in enumerate(rows):
        before = previous.get(key, {}).get("value")
        times.barh(position + 0.2, float(figure["value"]), height=0.4, color="#c44e52")
        if before is not None:
            times.barh(position - 0.2, float(before), height=0.4, color="#c44e52", alpha=0.35)
        for target in marks:
            if key.startswith(target.marks):
                times.plot([target.threshold], [position], marker="|", markersize=22, mew=3, color="black")
    times.set_yticks(range(len(rows)), [figure["label"] for _, figure in rows], fontsize=7)
    times.set(xlabel="seconds")
    times.set_title("Start-up and latency (pale: previous run, |: target)", fontsize=10)
    times.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(docs: Path, run: Figures, about: str, quick: bool) -> Path:
    """Write BENCHMARKS.md, benchmarks.png and benchmarks.json into `docs`; the run that was in
    benchmarks.json before becomes the previous run."""
    store = docs / "benchmarks.json"
    stored = json.loads(store.read_text()) if store.is_file() else {"about": "none", "run": {}}
    previous: Figures = stored["run"]
    store.write_text(
        json.dumps({"about": about, "run": run, "previous": previous}, indent=1, sort_keys=True) + "\n"
    )
    plot(run, previous, docs / "benchmarks.png")
    command = "make bench-quick" if quick else "make bench"
    report = docs / "BENCHMARKS.md"
    report.write_text(
        f"""# Benchmarks

Written by `{command}`: {about}. Each figure stands beside its baseline from the same run, and
beside the previous run's figure (kept in `benchmarks.json`; previous run: {stored["about"]}).
Timings vary from run to run on a shared machine; compare within a run first.

![throughput by backlog size, start-up and latency](benchmarks.png)

## What is measured

- *producer*: tickets/s of kafka-python with its defaults and with the product's settings (the
  send loop alone, tickets made beforehand), Kafka's Java ProducerPerformance with the same
  ticket bytes, and `make produce` as a whole process (start, generation, sends, exit).
- *processing*: tickets/s draining a backlog of N distinct tickets: the Spark job (bounded mode,
  from its first micro-batch to its exit), Spark reading the topic and only counting, the plain
  kafka-python consumer of `tickets_bench.plain_consumer` (parse, deduplicate, enrich, count in one
  process), and Kafka's Java ConsumerPerformance.
- *whole*: the same job and plain consumer on the largest backlog, timed from process start to
  exit (JVM and Spark start-up included).
- *profile*: where the Spark job's time went on the largest backlog, from Spark's progress of
  each micro-batch (`PROGRESS_FILE`): seconds per phase summed over the batches.
- *memory*: on the largest backlog, the driver's peak resident memory (JVM) and the
  deduplication state at the end (RocksDB, as Spark reports it); the peak resident memory of
  `make produce` for N and 10 N tickets.
- *monitoring*: the Spark job on the largest backlog again with its consumer-group commits, its
  dead-letter topic and its metrics turned off, against the run above with them on (the backlog
  holds only valid tickets: the dead-letter path costs its start-up check, not writes).
- *latency*: from each send to the first export that counts the ticket, at a fixed rate, tickets
  sent one per request (linger 0), for each trigger interval.
- *demo*: the 200-ticket demo with a warm Ivy cache: job start to "query started" and to the
  final JSON.

{tables(run, previous)}"""
    )
    return report
