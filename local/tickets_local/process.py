"""Running the stack's scripts and waiting on processes: what every part of the local stack shares."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = ROOT / "data" / "cluster"  # the local cluster's nodes and daemons


class StepError(RuntimeError):
    """A step of the stack could not be done; the message says which and why."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
