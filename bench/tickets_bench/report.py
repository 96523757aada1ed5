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
    "processing.fast_consumer": ("confluent-kafka + orjson consumer", "#8172b3"),
    "processing.consumer_perf": ("Kafka ConsumerPerformance (Java)", "#55a868"),
}
SECTIONS = ("producer", "processing", "whole", "profile", "memory", "monitoring", "latency", "demo", "lake")
# The profile of a latency batch (tickets_bench.profile), in a table of its own.
BATCH = "batch"


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


def seconds(key: str, goal: str, name: str) -> Target:
    return Target(f"{name}, s", goal, lambda f: value(f, key), marks=key)


# The lake's (tickets_bench.lake), also judged in its own report, docs/reports/LAKE-FIGURES.md.
LAKE_TARGETS = [
    Target(
        "the Delta tables on local disk: the job slower by, %, largest backlog",
        "<= 25",
        lambda f: value(f, "lake.cost.local"),
    ),
    Target(
        "the Delta tables and the checkpoint on the S3 server: the job slower by, %, largest backlog",
        "<= 25",
        lambda f: value(f, "lake.cost.s3"),
    ),
    Target(
        "latency p50 at 1,000 tickets/s over 10 minutes, tables on, s",
        "<= 1.5",
        lambda f: value(f, "lake.latency_sustained.p50"),
    ),
    Target(
        "latency p99 at 1,000 tickets/s over 10 minutes, tables on, s",
        "<= 3",
        lambda f: value(f, "lake.latency_sustained.p99"),
    ),
]

TARGETS = [
    against("processing.count_only", "Spark count-only read", ">= 0.5"),
    Target(
        "bounded job run / plain kafka-python consumer's run, process start to exit, largest backlog",
        "<= 1",
        lambda f: value(f, "whole.spark_job") / value(f, "whole.plain_consumer"),
    ),
    seconds("latency.p50.steady", "<= 1", "latency p50 at 1,000 tickets/s, steady"),
    seconds("latency.p99.steady", "<= 2", "latency p99 at 1,000 tickets/s, steady"),
    seconds("latency.p50.first_minute", "<= 1", "latency p50 from 5 s after query started"),
    seconds("latency.p99.first_minute", "<= 2", "latency p99 from 5 s after query started"),
    seconds("demo.query_started", "<= 8", "200-ticket demo: job start -> query started"),
    seconds("demo.final_json", "<= 15", "200-ticket demo: job start -> final JSON"),
    Target(
        "make produce, whole process, tickets/s",
        ">= 20000",
        lambda f: value(f, "producer.make_produce"),
    ),
    Target(
        "producer peak resident memory, 10x the tickets / 1x (streams, does not grow with the count)",
        "<= 1.2",
        lambda f: max(producer_peaks(f)) / min(producer_peaks(f)),
    ),
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
    *LAKE_TARGETS,
]


def producer_peaks(figures: Figures) -> list[float]:
    """make produce's peak memory by ticket count, smallest count first."""
    keys = sorted(
        (k for k in figures if k.startswith("memory.producer_peak.")), key=lambda k: int(k.rsplit(".", 1)[1])
    )
    return [value(figures, key) for key in keys]


def targets_table(targets: list[Target], run: Figures, previous: Figures) -> list[str]:
    lines = ["| target | goal | this run | met | previous run | met then |", "|---|---|---|---|---|---|"]
    for target in targets:
        now, ok = target.check(run)
        then, ok_then = target.check(previous)
        cells = [target.name, target.goal, _number(now), _met(ok), _number(then), _met(ok_then)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _number(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def _spread(figure: Mapping[str, object]) -> str:
    """The runs' lowest and highest values, when there were several runs."""
    samples = figure.get("samples") or []
    if len(samples) < 2:
        return "-"
    return f"{_number(min(samples))} to {_number(max(samples))}"


def tables(run: Figures, previous: Figures) -> str:
    lines = [
        "| measurement | this run (median) | its runs (lowest to highest) | previous run | unit |",
        "|---|---|---|---|---|",
    ]
    for section in SECTIONS:
        for key, figure in run.items():
            if key.split(".")[0] == section:
                before = previous.get(key, {}).get("value")
                lines.append(
                    f"| {figure['label']} | {_number(float(figure['value']))} | {_spread(figure)} | "
                    f"{_number(None if before is None else float(before))} | {figure['unit']} |"
                )
    goals = targets_table(TARGETS, run, previous)
    batch = ["| part of the batch | median | unit |", "|---|---|---|"]
    for key, figure in run.items():
        if key.split(".")[0] == BATCH:
            batch.append(
                f"| {key[len(BATCH) + 1 :]} | {_number(float(figure['value']))} | {figure['unit']} |"
            )
    return (
        "\n".join(lines)
        + "\n\n## Targets (judged on the medians)\n\n"
        + "\n".join(goals)
        + "\n\n## Where a latency batch's milliseconds go\n\n"
        + "Medians over the second half of the batches of the latency run with the median steady p50 "
        + "(`tickets_bench.profile`: Spark's phases, the sink's steps, each stage of the batch's Spark "
        + "job from the event log, the state store's commit):\n\n"
        + "\n".join(batch)
        + "\n"
    )


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
    runs = "one run" if quick else "three runs"
    report = docs / "BENCHMARKS.md"
    report.write_text(
        f"""# Benchmarks

Written by `{command}`: {about}. Each figure is the median of {runs} and stands beside
its runs' lowest and highest values, its baseline from the same run, and the previous run's figure
(kept in `benchmarks.json`; previous run: {stored["about"]}). Timings vary from run to run on a
shared machine; compare within a run first. Where a missed target's time goes:
[PERFORMANCE.md](../PERFORMANCE.md).

![throughput by backlog size, start-up and latency](benchmarks.png)

## What is measured

- *producer*: tickets/s of kafka-python with its defaults and with the product's settings (the
  send loop alone, tickets made beforehand), Kafka's Java ProducerPerformance with the same
  ticket bytes, and `make produce` as a whole process (start, generation, sends, exit).
- *processing*: tickets/s draining a backlog of N distinct tickets: the Spark job (bounded mode,
  from its first micro-batch to its exit), Spark reading the topic and only counting, the plain
  kafka-python consumer of `tickets_bench.plain_consumer` (parse, deduplicate, enrich, count in one
  process), the same work with confluent-kafka (librdkafka) and orjson
  (`tickets_bench.fast_consumer`, the one-process limit), and Kafka's Java ConsumerPerformance.
- *whole*: the same job and Python consumers on the largest backlog, timed from process start to
  exit (JVM and Spark start-up included).
- *profile*: where the Spark job's time went on the largest backlog, from its events
  (`PROGRESS_FILE`): seconds per phase of Spark's progress and per step of the sink, summed over
  the batches of the run with the median time.
- *memory*: on the largest backlog, the driver's peak resident memory (JVM) and the
  deduplication state's memory at the end (RocksDB, as Spark reports it); the peak resident memory
  of `make produce` for N and 10 N tickets.
- *monitoring*: the Spark job on the largest backlog again with its consumer-group commits, its
  dead-letter topic and its metrics turned off, against the run above with them on (the backlog
  holds only valid tickets: the dead-letter path costs its start-up check, not writes).
- *latency*: from each send to the first export that counts the ticket, at a fixed rate, tickets
  sent one per request (linger 0), the job with its defaults; sending starts 5 s after the job's
  "query started": *first minute* is over every ticket, *steady* over the second half of them.
- *demo*: the 200-ticket demo with a warm Ivy cache: job start to "query started" and to the
  final JSON.

{tables(run, previous)}"""
    )
    return report


def lake_report(run: Figures, about: str) -> str:
    """docs/reports/LAKE-FIGURES.md: the lake section's figures and targets alone."""
    lines = [
        "# Lake figures (generated)",
        "",
        about,
        "See [PERFORMANCE.md](../PERFORMANCE.md#the-lake) for what they mean.",
        "",
        "| measurement | median | its runs (lowest to highest) | unit |",
        "|---|---|---|---|",
    ]
    for key, figure in run.items():
        if key.startswith("lake."):
            cells = [
                str(figure["label"]),
                _number(float(figure["value"])),
                _spread(figure),
                str(figure["unit"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    goals = ["| target | goal | this run | met |", "|---|---|---|---|"]
    for target in LAKE_TARGETS:
        now, ok = target.check(run)
        goals.append(f"| {target.name} | {target.goal} | {_number(now)} | {_met(ok)} |")
    return "\n".join([*lines, "", "## Targets (judged on the medians)", "", *goals]) + "\n"
