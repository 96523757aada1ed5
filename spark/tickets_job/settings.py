"""The job's settings, read once from the environment (see the variables in tickets_job.app)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tickets_job.transforms import CLOCK_SKEW_MINUTES
from tickets_kafka.client import ClientSettings
from tickets_kafka.settings import Env


@dataclass(frozen=True, kw_only=True)
class Settings(ClientSettings):
    output_dir: Path = Path("data/output/client_tickets")
    quarantine_dir: Path = Path("data/output/quarantine")
    checkpoint_dir: Path = Path("data/checkpoints/client_tickets")
    dedup_horizon_minutes: int = 24 * 60
    ivy_dir: Path = Path("ivy")
    max_offsets_per_trigger: int = 200_000
    trigger_interval: str = "1 second"
    shuffle_partitions: int = 2
    expected_tickets: int | None = None
    progress_file: Path | None = None
    bounded: bool = False
    master: str = "local[*]"
    driver_memory: str = "1g"
    ui_port: int = 4040
    driver_host: str | None = None
    driver_port: int | None = None
    block_manager_port: int | None = None

    @classmethod
    def read_own(cls, env: Env) -> dict[str, object]:
        return {
            "output_dir": env.path("OUTPUT_DIR", cls.output_dir),
            "quarantine_dir": env.path("QUARANTINE_DIR", cls.quarantine_dir),
            "checkpoint_dir": env.path("CHECKPOINT_DIR", cls.checkpoint_dir),
            # The time checks need a horizon well beyond the clock skew they allow (transforms).
            "dedup_horizon_minutes": env.whole(
                "DEDUP_HORIZON_MINUTES", cls.dedup_horizon_minutes, minimum=3 * CLOCK_SKEW_MINUTES
            ),
            "ivy_dir": env.path("IVY_DIR", cls.ivy_dir),
            "max_offsets_per_trigger": env.whole("MAX_OFFSETS_PER_TRIGGER", cls.max_offsets_per_trigger, 1),
            "trigger_interval": env.text("TRIGGER_INTERVAL", cls.trigger_interval),
            "shuffle_partitions": env.whole("SHUFFLE_PARTITIONS", cls.shuffle_partitions, 1),
            "expected_tickets": env.whole("EXPECTED_TICKETS", None, 1),
            "progress_file": env.optional_path("PROGRESS_FILE"),
            "bounded": env.flag("BOUNDED", cls.bounded),
            "master": env.text("SPARK_MASTER", cls.master),
            "driver_memory": env.text("SPARK_DRIVER_MEMORY", cls.driver_memory),
            "ui_port": env.port("SPARK_UI_PORT") or cls.ui_port,
            "driver_host": env.optional_text("SPARK_DRIVER_HOST"),
            "driver_port": env.port("SPARK_DRIVER_PORT"),
            "block_manager_port": env.port("SPARK_BLOCK_MANAGER_PORT"),
        }
