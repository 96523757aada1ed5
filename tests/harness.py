"""Test harness: the real broker, the real job process, the real producer, and an independent reader.

Everything waits on offsets or output with a deadline; nothing sleeps a fixed time to "let it work".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaProducer

import producer

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "local-kafka" / "kafka.sh"
PART_GLOB = "part-00000-*.json"


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


@dataclass
class Broker:
    """A local Kafka broker run by local-kafka/kafka.sh on ports of its own."""

    port: int
    state_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.port + 1),
            "KAFKA_STATE_DIR": str(self.state_dir),
        }

    def kafka_sh(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [str(KAFKA_SH), *args],
            env=self.env,
            cwd=self.state_dir,  # away from the repository's .env
            check=True,
            text=True,
            capture_output=True,
            **kwargs,
        )

    def pid(self) -> int:
        return int((self.state_dir / "kafka.pid").read_text())

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would; its data stays for `up` to restart on."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 30, "the killed broker to be gone")

    def up(self, timeout: float = 120) -> None:
        self.kafka_sh("up", timeout=timeout)

    def pause(self) -> None:
        os.kill(self.pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid(), signal.SIGCONT)

    def create_topic(self, prefix: str = "tickets") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.kafka_sh("topic", name)
        return name

    def end_offsets(self, topic: str) -> dict[int, int]:
        """partition -> end offset, from Kafka's own GetOffsetShell."""
        tool = "org.apache.kafka.tools.GetOffsetShell"
        result = self.kafka_sh("tool", tool, "--bootstrap-server", self.bootstrap, "--topic", topic)
        ends = {}
        for line in result.stdout.split():
            _, partition, offset = line.rsplit(":", 2)
            ends[int(partition)] = int(offset)
        return ends

    def console_consume(self, topic: str) -> list[dict]:
        """Every value on `topic`, read by Kafka's own console consumer (not by our code)."""
        total = sum(self.end_offsets(topic).values())
        result = self.kafka_sh(
            "tool",
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server",
            self.bootstrap,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            str(total),
            "--timeout-ms",
            "30000",
        )
        values = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        assert len(values) == total, f"read {len(values)} of the {total} messages on {topic}"
        return values


@dataclass
class Job:
    """The Spark job as a separate process, exactly as `make spark` runs it."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def output_dir(self) -> Path:
        return Path(self.env["OUTPUT_DIR"])

    def start(self, *args: str) -> Job:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "spark" / "spark_streaming.py"), *args],
            env=self.env,
            cwd=self.log_path.parent,  # away from the repository's .env
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes the JVM down with it
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_total(self, expected: int, timeout: float = 180) -> dict[str, int]:
        def reached() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"job exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            return sum(read_counts(self.output_dir).values()) >= expected

        wait_until(reached, timeout, f"{expected} tickets in {self.output_dir}")
        return read_counts(self.output_dir)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as docker stop or Ctrl-C would; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the driver and its JVM at once, as an OOM kill or a power cut would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait(self, timeout: float = 180) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)


def job_env(broker: Broker, topic: str, workdir: Path, **extra: str) -> dict[str, str]:
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


def produce(broker: Broker, topic: str, count: int, seed: int) -> dict[str, str]:
    """Send `count` tickets with the real producer code; returns its ledger (acked id -> type)."""
    settings = producer.Settings(
        bootstrap_servers=broker.bootstrap, topic=topic, ticket_count=count, ticket_seed=seed
    )
    summary = producer.run(settings)
    assert not summary.failed, summary.failed
    assert summary.sent == count
    return summary.acked


def read_counts(output_dir: Path) -> dict[str, int]:
    """The exported counts, parsed here independently of the job's code ({} before the first export)."""
    parts = sorted(output_dir.glob(PART_GLOB))
    assert len(parts) <= 1, f"more than one part file: {parts}"
    if not parts:
        return {}
    counts = {}
    for line in parts[0].read_text().splitlines():
        row = json.loads(line)
        counts[row["type"]] = row["ticket_count"]
    return counts


def expected_counts(*ledgers: Mapping[str, str]) -> dict[str, int]:
    """Count per type of the distinct acknowledged ids (invariant I2)."""
    merged: dict[str, str] = {}
    for ledger in ledgers:
        merged.update(ledger)
    return dict(Counter(merged.values()))


def read_quarantine(quarantine_dir: Path) -> list[dict]:
    """Every quarantined message, parsed here independently of the job's code."""
    rows = []
    for path in sorted(quarantine_dir.glob("batch-*.jsonl")):
        rows.extend(json.loads(line) for line in path.read_text().splitlines())
    return rows


def produce_raw(broker: Broker, topic: str, values: list[bytes | None]) -> list[tuple[int, int]]:
    """Send raw values with a plain client (not the product's producer); returns (partition, offset)s."""
    client = KafkaProducer(bootstrap_servers=[broker.bootstrap], acks="all", max_request_size=2_000_000)
    try:
        futures = [client.send(topic, key=f"raw-{i}".encode(), value=v) for i, v in enumerate(values)]
        client.flush()
        return [(meta.partition, meta.offset) for meta in (f.get(timeout=30) for f in futures)]
    finally:
        client.close()
