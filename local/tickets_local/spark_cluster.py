"""A Spark standalone master and workers through local/spark/spark.sh, and what the job needs to
be their client-mode driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tickets_local.process import CLUSTER_DIR, ROOT, run_script, wait_until

SPARK_SH = ROOT / "local" / "spark" / "spark.sh"


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
    def properties(self) -> Path:
        """The file of the cluster's secret (local/spark/auth.sh) that its applications read."""
        return self.state_dir / "auth.properties"

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


# The local cluster of `make cluster-up`, on ports of its own beside `make broker-up`'s broker.


def spark_cluster(quiet: bool = False) -> SparkCluster:
    """A Spark master on 127.0.0.1:7077 (web UI on 8081) with two workers of 1 core and 1 GiB."""
    return SparkCluster(port=7077, state_dir=CLUSTER_DIR / "spark", quiet=quiet)


def cluster_env(cluster: SparkCluster) -> dict[str, str]:
    """What the job needs to be a client-mode driver of `cluster` (executors on its workers)."""
    return {
        "SPARK_MASTER": cluster.master,
        "SPARK_PROPERTIES_FILE": str(cluster.properties),  # the cluster's secret: it takes no other
        "SPARK_LOCAL_IP": "127.0.0.1",  # where the executors reach the driver
        "PYSPARK_PYTHON": sys.executable,
    }
