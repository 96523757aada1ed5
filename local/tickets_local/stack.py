"""The pipeline's processes on this machine, started and stopped in one way for every caller.

`make run` / `make cluster-run` (tickets_local.run), `make cluster-up` / `cluster-down`
(tickets_local.cluster), the benchmarks (tickets_bench.bench) and the tests (tests/harness.py) all use:

  Broker        local Apache Kafka through local/kafka/kafka.sh: one node, or a KRaft cluster
  SparkCluster  a Spark standalone master and workers through local/spark/spark.sh
  Job           the Spark job (spark/spark_job.py) as a process of its own
  run_producer  the producer (tickets_producer) as a process, as `make produce` runs it
  wait_until    a condition polled until a deadline (never a fixed sleep)

A step that cannot be done raises StepError with the reason (the scripts print theirs on
stderr); the commands report it in one line and exit 1, without a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tickets_job.export import current_part
from tickets_job.progress import read_events

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "local" / "kafka" / "kafka.sh"
SPARK_SH = ROOT / "local" / "spark" / "spark.sh"


class StepError(RuntimeError):
    """A step of the stack could not be done; the message says which and why."""


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group `pgid` still runs."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def run_script(
    script: Path, args: tuple[str, ...], env: Mapping[str, str], cwd: Path, quiet: bool, timeout: float
) -> subprocess.CompletedProcess[str]:
    """One of the stack's shell scripts. Quiet: its output is captured (and kept in the error);
    otherwise its stderr, where it says what it does, goes to ours."""
    try:
        result = subprocess.run(
            [str(script), *args],
            env=dict(env),
            cwd=cwd,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if quiet else None,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:
        raise StepError(f"{script.name} {' '.join(args)} did not finish within {timeout:.0f} s") from err
    if result.returncode != 0:
        said = (result.stderr or "").strip().splitlines()[-5:] if quiet else []
        reason = "\n".join(said) or "see its messages above"
        raise StepError(f"{script.name} {' '.join(args)} failed (exit {result.returncode}): {reason}")
    return result


@dataclass
class Broker:
    """Local Kafka: `nodes` processes on ports port, port+2, ... (controllers on port+1, port+3, ...).
    A field left None is what the environment (or ./.env) says, else local/kafka/kafka.sh's default.
    With `security_dir` (local/kafka/certs.sh's files and `scram-users`), clients get SASL_SSL only,
    at localhost, the name on the nodes' certificate."""

    port: int | None = None
    state_dir: Path | None = None
    nodes: int | None = None
    quiet: bool = True  # capture the script's messages instead of showing them
    security_dir: Path | None = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            return self.kafka_sh("bootstrap").stdout.strip()
        host = "127.0.0.1" if self.security_dir is None else "localhost"
        return ",".join(f"{host}:{self.node_port(n)}" for n in range(1, (self.nodes or 1) + 1))

    def node_port(self, node: int) -> int:
        assert self.port is not None
        return self.port + 2 * (node - 1)

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.nodes is not None:
            env["KAFKA_NODES"] = str(self.nodes)
        if self.port is not None:
            env["KAFKA_PORT"] = str(self.port)
            env["KAFKA_CONTROLLER_PORT"] = str(self.port + 1)
        if self.state_dir is not None:
            env["KAFKA_STATE_DIR"] = str(self.state_dir)
        if self.security_dir is not None:
            env["KAFKA_SECURITY_DIR"] = str(self.security_dir)
        return env

    def kafka_sh(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        if self.state_dir is None:  # configured by the environment: from the working directory
            return run_script(KAFKA_SH, args, self.env, Path.cwd(), self.quiet, timeout)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Run from the state folder, away from a working directory's .env.
        return run_script(KAFKA_SH, args, self.env, self.state_dir, self.quiet, timeout)

    def up(self, timeout: float = 600) -> None:
        """Every node not running is started (the first start may fetch Kafka with mvn)."""
        self.kafka_sh("up", timeout=timeout)

    def down(self) -> None:
        self.kafka_sh("down")

    def reset(self) -> None:
        self.kafka_sh("reset")

    def pid(self, node: int = 1) -> int:
        assert self.state_dir is not None
        return int((self.state_dir / f"node-{node}" / "kafka.pid").read_text())

    def kill(self, node: int = 1) -> None:
        """SIGKILL one node, as a crash would; its data stays for `up` to restart it on."""
        pid = self.pid(node)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 30, f"the killed node {node} to be gone")

    def pause(self, node: int = 1) -> None:
        os.kill(self.pid(node), signal.SIGSTOP)

    def resume(self, node: int = 1) -> None:
        os.kill(self.pid(node), signal.SIGCONT)

    def create_topic(self, prefix: str = "tickets") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.kafka_sh("topic", name)
        return name

    def tool(self, tool_class: str, *args: str, timeout: float = 600) -> str:
        """A Kafka command-line tool against this broker; its standard output."""
        bootstrap = ("--bootstrap-server", self.bootstrap)
        return self.kafka_sh("tool", tool_class, *bootstrap, *args, timeout=timeout).stdout

    def leaders(self, topic: str) -> dict[int, int]:
        """partition -> node id of its leader, from Kafka's own TopicCommand."""
        described = self.tool("org.apache.kafka.tools.TopicCommand", "--describe", "--topic", topic)
        found = re.findall(r"Partition: (\d+)\s+Leader: (-?\d+)", described)
        return {int(partition): int(leader) for partition, leader in found}

    def end_offsets(self, topic: str) -> dict[int, int]:
        """partition -> end offset, from Kafka's own GetOffsetShell."""
        ends = {}
        for line in self.tool("org.apache.kafka.tools.GetOffsetShell", "--topic", topic).split():
            _, partition, offset = line.rsplit(":", 2)
            ends[int(partition)] = int(offset)
        return ends


@dataclass
class SparkCluster:
    """A Spark standalone master on 127.0.0.1:port with `workers` workers of 1 core each."""

    port: int
    state_dir: Path
    workers: int = 2
    webui_port: int = 8081
    quiet: bool = True

    @property
    def master(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SPARK_WORKERS": str(self.workers),
            "SPARK_MASTER_PORT": str(self.port),
            "SPARK_MASTER_WEBUI_PORT": str(self.webui_port),
            "SPARK_STATE_DIR": str(self.state_dir),
            "PYTHON": sys.executable,
        }

    def spark_sh(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return run_script(SPARK_SH, args, self.env, self.state_dir, self.quiet, timeout)

    def up(self) -> None:
        self.spark_sh("up")

    def down(self) -> None:
        self.spark_sh("down")

    def worker_pid(self, worker: int) -> int:
        return int((self.state_dir / f"worker-{worker}" / "pid").read_text())

    def kill_worker(self, worker: int) -> None:
        """SIGKILL one worker and the executor it runs, as a lost machine would be."""
        pid = self.worker_pid(worker)
        executors = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for victim in [pid, *map(int, executors)]:
            os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 30, f"the killed worker {worker} to be gone")

    def executor_logs(self) -> list[Path]:
        return sorted(self.state_dir.glob("worker-*/work/*/*/stderr"))


# The local cluster of `make cluster-up`, on ports of its own beside `make broker-up`'s broker.
CLUSTER_DIR = ROOT / "data" / "cluster"


def cluster_broker(quiet: bool = False) -> Broker:
    """Three Kafka nodes on 127.0.0.1:9192, 9194 and 9196 (controllers on 9193, 9195, 9197)."""
    return Broker(port=9192, state_dir=CLUSTER_DIR / "kafka", nodes=3, quiet=quiet)


def spark_cluster(quiet: bool = False) -> SparkCluster:
    """A Spark master on 127.0.0.1:7077 (web UI on 8081) with two workers of 1 core and 1 GiB."""
    return SparkCluster(port=7077, state_dir=CLUSTER_DIR / "spark", quiet=quiet)


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

        wait_until(reached, timeout, f"{expected} tickets in {self.output_dir}")
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
        "IVY_DIR": str(ROOT / "ivy"),
        "TRIGGER_INTERVAL": "500 milliseconds",
        **extra,
    }


def cluster_env(cluster: SparkCluster) -> dict[str, str]:
    """What the job needs to be a client-mode driver of `cluster` (executors on its workers)."""
    return {
        "SPARK_MASTER": cluster.master,
        "SPARK_LOCAL_IP": "127.0.0.1",  # where the executors reach the driver
        "PYSPARK_PYTHON": sys.executable,
    }


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
