"""What happened to the tickets sent: counts, never a list that grows with TICKET_COUNT; and the
ledger, each acknowledged ticket as a JSON line written as its acknowledgement arrives."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def error_name(reason: str) -> str:
    """The Kafka error a client's exception names ("[Error 31] ClusterAuthorizationFailedError"),
    else the exception's class."""
    if match := re.search(r"\[Error \d+\] (\w+)", reason):
        return match.group(1)
    return reason.split("(", 1)[0]


Acknowledged = Callable[[str, str], None]  # (ticket id, type), called as each acknowledgement arrives


@dataclass
class Summary:
    """What happened to the tickets handed to the client, as counts: its memory stays the same
    whatever TICKET_COUNT. Only the tickets still in flight are held (as many as the client's
    buffer takes); each acknowledged ticket goes to `on_ack` (the ledger) as its answer arrives."""

    requested: int
    sent: int = 0
    acked: int = 0
    per_type: Counter[str] = field(default_factory=Counter)  # acknowledged, by ticket type
    failed: Counter[str] = field(default_factory=Counter)  # not acknowledged, by error name
    failure_examples: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (id, reason)
    unsettled: set[str] = field(default_factory=set)  # sent, neither acknowledged nor failed yet
    on_ack: Acknowledged | None = field(default=None, repr=False, compare=False)
    _answered: threading.Condition = field(default_factory=threading.Condition, repr=False, compare=False)

    def expect(self, ticket_id: str) -> None:
        """A ticket handed to the client, before its answer can arrive."""
        with self._answered:
            self.unsettled.add(ticket_id)
            self.sent += 1

    def settle(self, ticket_id: str, acked: str | None = None, failed: str | None = None) -> None:
        """Record the client's answer for one ticket (from its network thread). The first answer
        counts: one that comes after the ticket was given up on (failed) is ignored."""
        with self._answered:
            if ticket_id not in self.unsettled:
                return
            if acked is not None:
                self.acked += 1
                self.per_type[acked] += 1
                if self.on_ack is not None:
                    self.on_ack(ticket_id, acked)
            else:
                reason = failed or "failed"
                name = error_name(reason)
                self.failed[name] += 1
                self.failure_examples.setdefault(name, (ticket_id, reason))
            self.unsettled.discard(ticket_id)
            if not self.unsettled:
                self._answered.notify_all()

    def wait_settled(self, timeout: float) -> bool:
        """Block until every ticket sent has its answer, or `timeout` seconds in all have passed."""
        with self._answered:
            return self._answered.wait_for(lambda: not self.unsettled, timeout=timeout)

    def line(self) -> str:
        types = ", ".join(f"{name}={self.per_type[name]}" for name in sorted(self.per_type))
        return (
            f"sent {self.sent}/{self.requested}, acknowledged {self.acked}, "
            f"failed {self.failed.total()} ({types or 'none acknowledged'})"
        )


@contextmanager
def ledger_writer(path: Path | None) -> Iterator[Acknowledged | None]:
    """Writes each acknowledged ticket to `path` as a JSON line as its acknowledgement arrives
    (None: no ledger). What a killed producer leaves is the ledger of what was acknowledged so far."""
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        yield lambda ticket_id, ticket_type: out.write(
            json.dumps({"ticket_id": ticket_id, "type": ticket_type}) + "\n"
        )
