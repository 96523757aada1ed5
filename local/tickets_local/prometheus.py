"""Prometheus on this machine (Debian's `prometheus` package), scraping a local job with the Docker
stack's own configuration (monitoring/prometheus.yml), its targets moved to this machine's ports:
for the tests of the dashboard's queries and for the pictures in docs/ (`make pictures`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tickets_local.process import ROOT, StepError, free_port, wait_until

STACK_CONFIG = ROOT / "monitoring" / "prometheus.yml"
DASHBOARD = ROOT / "monitoring" / "grafana" / "dashboards" / "client-tickets.json"
# Scrape jobs of the stack with nothing to scrape here: Apache Kafka serves no Prometheus metrics.
REDPANDA_JOB = "redpanda"


def dashboard_queries() -> list[str]:
    """Every PromQL query of the Grafana dashboard, in panel order."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@dataclass
class LocalPrometheus:
    """Prometheus in `folder`, scraping the job's metrics on `metrics_port` and Spark's UI on
    `ui_port` every second; its own UI and API on `port`."""

    folder: Path
    metrics_port: int
    ui_port: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def config(self) -> dict[str, Any]:
        """The stack's configuration, every second, with the job's and Spark's targets moved here."""
        config = yaml.safe_load(STACK_CONFIG.read_text())
        config["global"]["scrape_interval"] = "1s"
        config["global"]["evaluation_interval"] = "1s"
        config["rule_files"] = [str(STACK_CONFIG.parent / name) for name in config.get("rule_files", [])]
        moved = {"spark:9180": f"127.0.0.1:{self.metrics_port}", "spark:4040": f"127.0.0.1:{self.ui_port}"}
        jobs = [job for job in config["scrape_configs"] if job["job_name"] != REDPANDA_JOB]
        config["scrape_configs"] = jobs
        for job in config["scrape_configs"]:
            for targets in job["static_configs"]:
                targets["targets"] = [moved[target] for target in targets["targets"]]
        return config

    def start(self) -> LocalPrometheus:
        if shutil.which("prometheus") is None:
            raise StepError("Prometheus is missing: install Debian's package (apt-get install prometheus)")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "prometheus.yml").write_text(yaml.safe_dump(self.config()))
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={self.folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.folder / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "prometheus.log").open("w"),
        )
        wait_until(lambda: self.query("up") != [], 60, "Prometheus to answer")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result of an instant query ([] while Prometheus does not answer yet)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?query={urllib.parse.quote(promql)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return json.loads(answer.read())["data"]["result"]
        except OSError:
            return []

    def value(self, promql: str) -> float | None:
        """The first value of an instant query, or None without data."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None
