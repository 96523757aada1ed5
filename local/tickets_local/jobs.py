"""The job and the producer as processes of their own, exactly as `make spark` and `make produce`
run them, and what they leave: the exported counts, the job's events."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tickets_job.export import current_part
from tickets_job.progress import read_events
from tickets_job.storage import is_s3
from tickets_local.brokers import Broker
from tickets_local.process import ROOT, StepError, group_alive, wait_until


def read_part_counts(output_dir: Path) -> dict[str, int]:
    """The exported counts per type, through the job's own export module ({} before the first)."""
    part = current_part(output_dir)
    if part is None:
        return {}
    lines = part.read_text(encoding="utf-8").splitlines()
    return {row["type"]: row["ticket_count"] for row in map(json.loads, lines)}


@dataclass
class Job:
    """The Spark job as a separate process in a session of its own, exactly as `make spark` runs it.
    Its log goes to `log_path`; lines holding one of `echo` are also copied to our stderr. It runs
    in `cwd` (relative paths and .env are read there), by default the log's folder.

    Spark's scratch files (the jars it copies, block manager and RocksDB working folders, native
    libraries it unpacks; about 80 MB per start) go to a folder of this job's own, removed once the
    process has ended, however it ended: a driver killed with SIGKILL cannot remove them itself, and
    in /tmp they would pile up run after run."""

    env: dict[str, str]
    log_path: Path
    echo: tuple[str, ...] = ()
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    scratch: Path | None = field(default=None, repr=False)

    @property
    def output_dir(self) -> Path:
        return (self.cwd or self.log_path.parent) / self.env["OUTPUT_DIR"]

    @property
    def lake(self) -> str:
        """Where the job writes its Delta tables (LAKE_URI: a folder, or an s3a:// URI)."""
        uri = self.env.get("LAKE_URI", "data/lake")
        return uri if is_s3(uri) else str((self.cwd or self.log_path.parent) / uri)

    @property
    def progress_file(self) -> Path:
        """Where this job writes its events: PROGRESS_FILE, else a file of its own beside its log."""
        given = self.env.get("PROGRESS_FILE")
        return (
            (self.cwd or self.log_path.parent) / given
            if given
            else self.log_path.with_suffix(".events.jsonl")
        )

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The job's events so far (tickets_job.progress), or those of one kind ("batch", ...)."""
        return [event for event in read_events(self.progress_file) if kind in (None, event["event"])]

    def batches(self) -> list[dict[str, Any]]:
        return self.events("batch")

    def wait_until_started(self, timeout: float = 120) -> None:
        """Until the query has started (its first micro-batch may still be to come)."""
        wait_until(lambda: self.events("started") or self.exited(), timeout, "the job's query to start")
        if self.exited():
            raise StepError(
                f"the Spark job exited with code {self.process.returncode}:\n{self.log()[-3000:]}"
            )

    def start(self, *args: str) -> Job:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.scratch = Path(tempfile.mkdtemp(prefix="client-tickets-job-"))
        jvm_options = self.env.get("SPARK_SUBMIT_OPTS", "")  # the caller's own, if any
        scratch_env = {
            "SPARK_LOCAL_DIRS": str(self.scratch),  # spark.local.dir: copied jars, blocks, state stores
            "SPARK_SUBMIT_OPTS": f"{jvm_options} -Djava.io.tmpdir={self.scratch}".strip(),  # native libraries
        }
        STARTED.append(self)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tickets_job", *args],
            env={**self.env, **scratch_env, "PROGRESS_FILE": str(self.progress_file)},
            cwd=self.cwd or self.log_path.parent,
            stdout=subprocess.PIPE if self.echo else log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes the JVM down with it
        )
        if self.echo:
            threading.Thread(target=self._copy_log, args=(log,), daemon=True).start()
        return self

    def _copy_log(self, log: IO[bytes]) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            log.write(line)
            log.flush()
            text = line.decode(errors="replace")
            if any(marker in text for marker in self.echo):
                sys.stderr.write("  spark | " + text)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def counts(self) -> dict[str, int]:
        return read_part_counts(self.output_dir)

    def wait_for_total(self, expected: int, timeout: float = 180) -> dict[str, int]:
        """Until the exported counts add up to `expected`; fails at once if the job exits."""

        def reached() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                tail = "" if self.echo else f":\n{self.log()[-3000:]}"
                raise StepError(f"the Spark job exited with code {self.process.returncode}{tail}")
            return sum(self.counts().values()) >= expected

        try:
            wait_until(reached, timeout, f"{expected} tickets in {self.output_dir}")
        except TimeoutError as timeout_error:
            tail = "" if self.echo else f"; the job's log ends:\n{self.log()[-6000:]}"
            raise TimeoutError(f"{timeout_error} (counted {sum(self.counts().values())}){tail}") from None
        return self.counts()

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as docker stop would; killed after `timeout` s. Returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise StepError(f"the Spark job did not stop within {timeout:.0f} s; killed it") from None

    def kill(self) -> None:
        """SIGKILL the driver and its JVM at once, as an OOM kill or a power cut would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.wait(timeout=30)

    def wait(self, timeout: float = 180) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self.remove_scratch()
        return code

    def remove_scratch(self) -> None:
        """Spark's scratch folder, once the process has ended (a running job keeps it)."""
        if self.scratch is not None and self.process is not None and self.process.poll() is not None:
            # The JVM, in the job's process group, can outlive the python process for a moment.
            wait_until(lambda: not group_alive(self.process.pid), 30, "the job's JVM to exit")
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


STARTED: list[Job] = []  # every job started by this process, for kill_jobs_left_running


def kill_jobs_left_running() -> None:
    """Kill every job this process started that still runs, and remove every job's scratch folder
    (also of those that ended without being waited for)."""
    for job in STARTED:
        if job.process is not None and job.process.poll() is None:
            job.kill()
        job.remove_scratch()
    STARTED.clear()


def job_env(broker: Broker, topic: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The job's environment with every output under `workdir` and the repository's Ivy cache."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "KAFKA_TOPIC": topic,
        "OUTPUT_DIR": str(workdir / "output"),
        "QUARANTINE_DIR": str(workdir / "quarantine"),
        "CHECKPOINT_DIR": str(workdir / "checkpoint"),
        # The tables only where a caller asks for them (lake_env): they cost each micro-batch two
        # Delta commits, which the tests of other things need not pay for.
        "LAKE_URI": "off",
        "IVY_DIR": str(ROOT / "ivy"),
        "TRIGGER_INTERVAL": "500 milliseconds",
        # Spark UIs from 14040 up: 4040 stays free for a Docker stack tested at the same time.
        "SPARK_UI_PORT": "14040",
        # Served only where a test asks (its own port): the Docker stack publishes the default.
        "METRICS_PORT": "off",
        **extra,
    }


def lake_env(broker: Broker, topic: str, workdir: Path, **extra: str) -> dict[str, str]:
    """job_env with the lake on, in `workdir`/lake."""
    return job_env(broker, topic, workdir, LAKE_URI=str(workdir / "lake"), **extra)


def run_producer(env: Mapping[str, str], cwd: Path | None = None, quiet: bool = False) -> str:
    """tickets_producer as `make produce` runs it; its log (stderr), when quiet."""
    result = subprocess.run(
        [sys.executable, "-m", "tickets_producer"],
        env=dict(env),
        cwd=cwd,
        text=True,
        stderr=subprocess.PIPE if quiet else None,
        stdout=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()[-3:] if quiet else ["see its messages above"]
        raise StepError(f"the producer failed (exit code {result.returncode}): " + "\n".join(said))
    return result.stderr or ""
