"""The whole pipeline on this machine, without Docker (`make run`).

Every run starts from a clean slate: the local broker's data, the output and the checkpoint are
reset, so the result counts exactly this run's tickets. Then it starts the local Kafka broker,
the Spark job (in the background) and the producer, waits until the exported counts add up to
the tickets the broker acknowledged, prints the part file, and stops the job and the broker.

Environment: the producer's and the job's variables (TICKET_COUNT, TICKET_SEED, OUTPUT_DIR,
CHECKPOINT_DIR, ...; see .env.example), the broker's (KAFKA_PORT, KAFKA_STATE_DIR, ...; see
local-kafka/kafka.sh) and RUN_TIMEOUT (seconds to wait for the counts, default 300).
Logs:   the job's full log goes to LOG_DIR (default data/logs)/spark.log; its progress lines are
        echoed here. The result goes to stdout.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "producer"), str(ROOT / "spark")]

from dotenv import load_dotenv  # noqa: E402
from export import current_part  # noqa: E402
from spark_streaming import Settings as JobSettings  # noqa: E402

from producer import Settings as ProducerSettings  # noqa: E402

log = logging.getLogger("run_local")
KAFKA = ROOT / "local-kafka" / "kafka.sh"
ECHOED_LOGGERS = (" progress: ", " spark_streaming: ", " ERROR ")
DEMO_OFFSETS_PER_TRIGGER = 50


def kafka(command: str) -> None:
    subprocess.run([str(KAFKA), command], check=True)


def read_counts(output_dir: Path) -> dict[str, int]:
    """The exported counts per type ({} before the first export)."""
    part = current_part(output_dir)
    if part is None:
        return {}
    lines = part.read_text(encoding="utf-8").splitlines()
    return {row["type"]: row["ticket_count"] for row in map(json.loads, lines)}


def start_job(env: dict[str, str], log_file: Path) -> subprocess.Popen[str]:
    """The Spark job in the background; its log goes to `log_file`, its progress lines to ours."""
    job = subprocess.Popen(
        [sys.executable, str(ROOT / "spark" / "spark_streaming.py")],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )

    def copy_log() -> None:
        assert job.stderr is not None
        with log_file.open("w", encoding="utf-8") as out:
            for line in job.stderr:
                out.write(line)
                out.flush()
                if any(marker in line for marker in ECHOED_LOGGERS):
                    sys.stderr.write("  spark | " + line)

    threading.Thread(target=copy_log, daemon=True).start()
    return job


def wait_for_total(job: subprocess.Popen[str], output_dir: Path, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sum(read_counts(output_dir).values()) < expected:
        if job.poll() is not None:
            raise RuntimeError(f"the Spark job exited with code {job.returncode} before counting everything")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the counts did not reach {expected} within {timeout:.0f} s")
        time.sleep(0.25)


def stop_job(job: subprocess.Popen[str]) -> None:
    if job.poll() is None:
        job.send_signal(signal.SIGTERM)
        try:
            job.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log.warning("the Spark job did not stop within 60 s; killing it")
            job.kill()
            job.wait()


def main() -> int:
    load_dotenv(".env")  # the working directory's, like the programs it starts
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        producer_settings = ProducerSettings.from_env(os.environ)
        job_settings = JobSettings.from_env(os.environ)
    except ValueError as err:  # either program's ConfigError
        log.error("%s", err)
        return 2
    log_dir = Path(os.environ.get("LOG_DIR", "data/logs"))
    log_dir.mkdir(parents=True, exist_ok=True)

    state = (job_settings.output_dir, job_settings.quarantine_dir, job_settings.checkpoint_dir)
    log.info("resetting the broker's data and %s", ", ".join(map(str, state)))
    kafka("reset")
    for folder in state:
        shutil.rmtree(folder, ignore_errors=True)

    kafka("up")
    job = None
    try:
        env = {
            **os.environ,
            "EXPECTED_TICKETS": str(producer_settings.ticket_count),
            # A demo: small micro-batches, so the 200 tickets show up as several progress lines.
            "MAX_OFFSETS_PER_TRIGGER": os.environ.get(
                "MAX_OFFSETS_PER_TRIGGER", str(DEMO_OFFSETS_PER_TRIGGER)
            ),
        }
        job = start_job(env, log_dir / "spark.log")
        log.info("Spark job started (pid %d, log %s); producing", job.pid, log_dir / "spark.log")
        produced = subprocess.run([sys.executable, str(ROOT / "producer" / "producer.py")], env=env)
        if produced.returncode != 0:
            log.error("the producer failed (exit code %d); see its messages above", produced.returncode)
            return 1
        wait_for_total(
            job,
            job_settings.output_dir,
            producer_settings.ticket_count,
            float(os.environ.get("RUN_TIMEOUT", "300")),
        )
        stop_job(job)  # first, so that its last progress lines come before the result
        part = current_part(job_settings.output_dir)
        assert part is not None
        sys.stdout.write(f"\n{part}\n{part.read_text(encoding='utf-8')}\n")
        return 0
    except RuntimeError as err:
        log.error("%s; see %s", err, log_dir / "spark.log")
        return 1
    finally:
        if job is not None:
            stop_job(job)
        kafka("down")


if __name__ == "__main__":
    sys.exit(main())
