"""Class-data sharing for the driver's JVM: the classes a run loaded, archived once, mapped by every
later start instead of being found, read and verified again (Java's AppCDS, a dynamic archive).

It shortens the job's start and its first micro-batch, which loads the Kafka client, RocksDB and
the code generator's classes (the figures: docs/PERFORMANCE.md).

The archive lives beside the Ivy cache (IVY_DIR/class-archive/), one per JVM, pyspark and jar set,
since an archive only fits the JVM and the class path that made it. The first run without one asks
its JVM to write it at exit (-XX:ArchiveClassesAtExit) under a name of its own; once that JVM has
exited normally (a job stopped with SIGTERM or Ctrl-C, or a bounded run), the file is renamed into
place in one step. A JVM killed while it writes leaves only its own temporary file, removed by a
later start; runs at the same time each write their own, and the last rename wins. An archive that
does not fit (another JVM under the same path) is ignored by the JVM, which then loads its classes
as usual: the archive can make a start faster, never make it fail. CLASS_ARCHIVE=false turns it off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pyspark

log = logging.getLogger(__name__)

# The JVM's own lines about archiving (classes it cannot archive, and why) are not for users.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
STALE_SECONDS = 3600  # a temporary archive this old belongs to a JVM that was killed while writing
EXIT_SECONDS = 120  # how long the stopping job waits for its JVM to write the archive and exit


def java_identity() -> str:
    """The JVM the session will start, as precisely as is cheap to know: its resolved path."""
    home = os.environ.get("JAVA_HOME")
    java = Path(home) / "bin" / "java" if home else shutil.which("java")
    return str(Path(java).resolve()) if java else "java"


@dataclass
class ClassArchive:
    """The driver's class archive for one JVM, pyspark version and set of jars."""

    path: Path
    writing: bool = False  # this run's JVM writes the archive at its exit

    @classmethod
    def for_session(cls, folder: Path, java_packages: tuple[str, ...]) -> ClassArchive:
        """The archive in `folder` for this JVM, this pyspark (and so its Kafka connector) and the
        extra Java packages the session loads (the login modules of tickets_kafka.security)."""
        identity = "\n".join([java_identity(), pyspark.__version__, *sorted(java_packages)])
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        return cls(folder / f"driver-{digest}.jsa")

    @property
    def pending(self) -> Path:
        """Where this process's JVM writes the archive at its exit."""
        return self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")

    def java_options(self) -> str:
        """The driver's JVM options: map the archive, or write it at exit when there is none yet."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            if time.time() - leftover.stat().st_mtime > STALE_SECONDS:
                leftover.unlink(missing_ok=True)
        if self.path.is_file():
            return f"-XX:SharedArchiveFile={self.path} {QUIET}"
        log.info("the driver's classes will be archived when this run stops, for faster starts")
        self.writing = True
        return f"-XX:ArchiveClassesAtExit={self.pending} {QUIET}"

    def keep(self, jvm: subprocess.Popen | None) -> None:
        """After the session has stopped: let the JVM exit (it writes its archive then) and rename
        a complete archive into place. Nothing to do when the archive was mapped, not written."""
        if jvm is None or not self.writing:
            return
        if jvm.stdin is not None:
            jvm.stdin.close()  # the gateway's JVM exits when its parent's pipe closes
        try:
            code = jvm.wait(timeout=EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        if code == 0 and self.pending.is_file() and self.pending.stat().st_size > 0:
            os.replace(self.pending, self.path)
            log.info("archived the driver's classes in %s", self.path)
        else:
            self.pending.unlink(missing_ok=True)
