"""Local Apache Kafka through local/kafka/kafka.sh: one node, or a KRaft cluster of several; its
tools (topics, offsets, leaders) for the commands and the tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from tickets_local.process import CLUSTER_DIR, ROOT, run_script, wait_until

KAFKA_SH = ROOT / "local" / "kafka" / "kafka.sh"


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


def cluster_broker(quiet: bool = False) -> Broker:
    """Three Kafka nodes on 127.0.0.1:9192, 9194 and 9196 (controllers on 9193, 9195, 9197)."""
    return Broker(port=9192, state_dir=CLUSTER_DIR / "kafka", nodes=3, quiet=quiet)
