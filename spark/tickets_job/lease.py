"""One writer per checkpoint: the job holds CHECKPOINT_DIR/writer.lease while it runs.

Two jobs on one checkpoint would each plan the same micro-batches and write the same offset log,
state and tables: tickets lost or counted twice. Spark guards a checkpoint against a second query
only inside one cluster, and S3 has no rename that fails when the target exists, so the job claims
the checkpoint itself before it reads anything, and a second job is refused (exit 3).

- A local checkpoint: the job holds an exclusive `flock` on writer.lease for as long as it runs.
  The kernel releases it when the process ends, however it ends (kill -9 too), so a restart never
  waits.
- A checkpoint on S3: writer.lease is an object made with S3's conditional write (If-None-Match:
  only if absent) and renewed every RENEW_SECONDS with another (If-Match: only if still the version
  this job wrote). A job that finds a lease watches it for TTL_SECONDS: renewed meanwhile, it
  belongs to a running job, and this one is refused; not renewed, its holder is gone (killed, or
  cut off from S3 that long), and this job takes it over, again by If-Match, so that of two jobs
  taking over at once only one succeeds. A lease left by a process of this machine that no longer
  runs is taken over at once. A job stopped cleanly deletes its lease.
- A job whose renewal is refused has lost its lease (it could not reach S3 for TTL_SECONDS, and
  another job took over): it stops before its next micro-batch (CheckpointInUseError, exit 3).

What this cannot fence: a job that cannot reach S3 for TTL_SECONDS, then resumes its own writes
before it next tries to renew. The renewal runs on a thread of its own every RENEW_SECONDS, and the
sink checks the lease before each micro-batch; Spark's own writes between two checks are the gap.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import IO

from tickets_job.errors import CheckpointInUseError
from tickets_job.storage import Folder, LocalFolder

log = logging.getLogger(__name__)

LEASE = "writer.lease"
TTL_SECONDS = 30.0
RENEW_SECONDS = 10.0


def process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WriterLease:
    """The checkpoint's single-writer lease (see above): `acquire`, then `keep` until `release`."""

    def __init__(
        self,
        folder: Folder,
        ttl: float = TTL_SECONDS,
        renew_every: float = RENEW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.folder = folder
        self.ttl = ttl
        self.renew_every = renew_every
        self.clock = clock
        self.sleep = sleep
        self.holder = {"owner": str(uuid.uuid4()), "host": socket.gethostname(), "pid": os.getpid()}
        self.version: str | None = None
        self.lost: str | None = None  # why the lease was lost, once it is
        self._lock_file: IO[str] | None = None
        self._stop = threading.Event()
        self._mutex = threading.Lock()  # a renewal and the release, one at a time

    def _text(self) -> str:
        return json.dumps({**self.holder, "renewed_at": time.time()}) + "\n"

    def acquire(self) -> None:
        """Hold the lease, or raise CheckpointInUseError naming the job that holds it."""
        if isinstance(self.folder, LocalFolder):
            self._lock_locally(self.folder)
            return
        while (created := self.folder.create_text(LEASE, self._text())) is None:
            found = self.folder.read_versioned(LEASE)
            if found is None:  # released meanwhile: try again
                continue
            text, version = found
            if (gone := self._gone(text, version)) is None:
                raise self._in_use(text)
            taken = self.folder.replace_text(LEASE, self._text(), version)
            if taken is not None:
                log.warning("took over the checkpoint's lease, %s: %s", gone, text.strip())
                self.version = taken
                return
        self.version = created

    def _lock_locally(self, folder: LocalFolder) -> None:
        folder.path.mkdir(parents=True, exist_ok=True)
        lock_file = (folder.path / LEASE).open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            held = lock_file.read()
            lock_file.close()
            raise self._in_use(held) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(self._text())
        lock_file.flush()
        self._lock_file = lock_file  # held until the process ends or `release`

    def _gone(self, text: str, version: str) -> str | None:
        """Why the lease `text` at `version` is left by a job that is gone (its process is not
        running on this machine, or it is not renewed within the TTL); None while its job runs."""
        try:
            holder = json.loads(text)
        except ValueError:
            holder = {}
        if holder.get("host") == self.holder["host"] and not process_runs(int(holder.get("pid", 0))):
            return "its process on this machine is gone"
        log.info(
            "the checkpoint's lease is held (%s): waiting up to %.0f s for a renewal", text.strip(), self.ttl
        )
        deadline = self.clock() + self.ttl
        while self.clock() < deadline:
            self.sleep(min(1.0, self.renew_every / 5))
            found = self.folder.read_versioned(LEASE)
            if found is None:
                return "released meanwhile"
            if found[1] != version:
                return None  # renewed: held
        return f"not renewed for {self.ttl:.0f} s"

    def _in_use(self, held: str) -> CheckpointInUseError:
        return CheckpointInUseError(
            f"the checkpoint in {self.folder} is in use by another job ({held.strip() or 'a running job'}): "
            "one job at a time writes a checkpoint. Stop the other job, or point CHECKPOINT_DIR elsewhere"
        )

    def renew(self) -> bool:
        """Renew an S3 lease once; False when it was taken over (then `lost` says why)."""
        with self._mutex:
            if self.version is None or self.lost is not None:
                return self.lost is None
            renewed = self.folder.replace_text(LEASE, self._text(), self.version)
            if renewed is None:
                held = self.folder.read_text(LEASE) or ""
                self.lost = str(self._in_use(held)).replace("is in use by", "was taken over by")
                log.error("%s", self.lost)
                return False
            self.version = renewed
            return True

    def keep(self) -> None:
        """Renew an S3 lease every `renew_every` seconds on a daemon thread, until `release`.
        A renewal that fails (S3 unreachable) is tried again at the next turn."""
        if self.version is None:
            return

        def renew_until_released() -> None:
            while not self._stop.wait(self.renew_every):
                try:
                    if not self.renew():
                        return
                except Exception as err:
                    log.warning(
                        "the checkpoint's lease could not be renewed (tried again in %.0f s): %s",
                        self.renew_every,
                        err,
                    )

        threading.Thread(target=renew_until_released, name="checkpoint-lease", daemon=True).start()

    def check(self) -> None:
        """CheckpointInUseError once the lease was lost (called before each micro-batch)."""
        if self.lost is not None:
            raise CheckpointInUseError(self.lost)

    def release(self) -> None:
        """Give the lease up (a clean stop), if this job still holds it."""
        self._stop.set()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
            return
        with self._mutex:
            if self.version is None or self.lost is not None:
                return
            try:
                found = self.folder.read_versioned(LEASE)
                if found is not None and found[1] == self.version:
                    self.folder.delete(LEASE)
            except Exception as err:
                log.warning("the checkpoint's lease could not be released: %s", err)
            self.version = None
