"""A local file given new content in one rename: a reader sees the old file or the new one, never
a part; a writer killed midway leaves only a hidden temporary file, which the next write removes.
The part file, the quarantine, the checkpoint's small files and the connector's manifest are
written this way."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

FILE_MODE = 0o640  # (less what the umask takes away) every file the job writes: none world-readable


def replace_file(target: Path, text: str) -> None:
    """Give `target` the content `text` in one rename: readers see the old file or the new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{target.name}.*.tmp"):
        leftover.unlink()  # left by a writer that was killed mid-write; there is one writer per file
    # The temporary file is hidden and in the same folder, so the rename stays on one file system.
    temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    # Not for every user of the machine: the tickets' counts, the rejected messages' previews.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with open(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)
