"""The job's files: the counts in one JSON-lines file `part-00000-<uuid>.json`, replaced
atomically, and the quarantine, one JSON-lines file per micro-batch that rejected messages.

    {"type":"ACCOUNT","ticket_count":52}
    {"type":"BILLING","ticket_count":49}

The file keeps its name from one batch to the next and each new version is renamed over the old
one, so a reader always finds exactly one complete file; a batch that Spark re-runs after a crash
recomputes the same complete result and rewrites the same bytes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from tickets_job.atomic_file import replace_file

PART_GLOB = "part-00000-*.json"

# What a line-based reader (or a terminal) takes for a line end or a command, beyond what JSON
# itself escapes (C0 controls): DEL, the C1 controls (U+0085 is a line end to some readers) and
# U+2028 / U+2029. Written as JSON's \u escapes, which every JSON reader decodes to the same text.
UNSAFE = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
ESCAPES = {code: f"\\u{code:04x}" for code in UNSAFE}


def printable(text: str) -> str:
    """`text` for a log line: every control character and line separator as its \\u escape."""
    return text.translate(ESCAPES)


def render_counts(counts: Iterable[tuple[str, int]]) -> str:
    """JSON lines sorted by type, exactly `{"type":"ACCOUNT","ticket_count":52}`."""
    return "".join(
        json.dumps({"type": ticket_type, "ticket_count": int(count)}, separators=(",", ":")) + "\n"
        for ticket_type, count in sorted(counts)
    )


def current_part(output_dir: Path) -> Path | None:
    """The part file now in `output_dir`, if any."""
    parts = sorted(output_dir.glob(PART_GLOB))
    return parts[0] if parts else None


def write_atomically(output_dir: Path, text: str) -> Path:
    """Replace the part file's content with `text` in one rename; returns the part file's path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    target = current_part(output_dir) or output_dir / f"part-00000-{uuid.uuid4()}.json"
    replace_file(target, text)
    return target


def export_counts(output_dir: Path, counts: Iterable[tuple[str, int]]) -> Path | None:
    """Write the complete counts; an empty result never replaces a good one (returns None then)."""
    text = render_counts(counts)
    if not text:
        return None
    return write_atomically(output_dir, text)


def export_rejects(
    quarantine_dir: Path, batch_id: int, rejects: Iterable[Mapping[str, object]]
) -> Path | None:
    """Write one micro-batch's quarantined messages as JSON lines to `batch-<id>.jsonl`.

    The name comes from the batch id, so a batch that Spark runs again replaces its own file with
    the same lines (the same offsets give the same messages) instead of adding a copy.
    """
    text = "".join(printable(json.dumps(dict(row), ensure_ascii=False)) + "\n" for row in rejects)
    if not text:
        return None
    target = quarantine_dir / f"batch-{batch_id:06d}.jsonl"
    replace_file(target, text)
    return target


def prune_quarantine(quarantine_dir: Path, keep_days: int, now: float | None = None) -> list[Path]:
    """Delete the quarantine files last written more than `keep_days` days ago; returns them."""
    cutoff = (time.time() if now is None else now) - keep_days * 86400
    pruned = []
    for path in sorted(quarantine_dir.glob("batch-*.jsonl")):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                pruned.append(path)
        except FileNotFoundError:  # pruned by another start meanwhile
            continue
    return pruned
