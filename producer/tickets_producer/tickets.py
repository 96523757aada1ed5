"""Synthetic customer tickets: generation and wire encoding (pure, no I/O).

A ticket is the JSON object the Spark job's schema expects:

    {"ticket_id": "7f0c...", "customer_id": "CUST-00042", "type": "BILLING",
     "priority": "HIGH", "subject": "Charged twice this month",
     "created_at": "2026-11-26T06:30:00.123Z"}

For a given seed the ids, customers, types, priorities and subjects are always the same;
`created_at` is read from the clock when the ticket is made, just before it is sent, so it is
never later than its send whatever the count or the rate. Tickets are made one at a time, as
they are consumed: a run of a million holds one ticket in memory, not a million.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

TICKET_TYPES: tuple[str, ...] = ("ACCOUNT", "BILLING", "GENERAL", "TECHNICAL")
PRIORITIES: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH", "URGENT")
SUBJECTS: dict[str, tuple[str, ...]] = {
    "ACCOUNT": ("Cannot log in", "Change account email", "Close my account", "Two-factor reset"),
    "BILLING": ("Charged twice this month", "Invoice missing", "Refund request", "Update card"),
    "GENERAL": ("Opening hours", "Feature suggestion", "Partnership enquiry", "Feedback"),
    "TECHNICAL": ("App crashes on start", "API returns 500", "Sync is slow", "Export fails"),
}
CUSTOMER_POOL = 500


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    customer_id: str
    type: str
    priority: str
    subject: str
    created_at: str


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a `Z`, the format Spark's JSON reader parses."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def generate_tickets(count: int, seed: int, clock: Callable[[], datetime] = utc_now) -> Iterator[Ticket]:
    """`count` tickets, deterministic for `seed`, each created at `clock()` when it is consumed."""
    rng = random.Random(seed)
    for _ in range(count):
        ticket_type = rng.choice(TICKET_TYPES)
        yield Ticket(
            ticket_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            customer_id=f"CUST-{rng.randrange(CUSTOMER_POOL):05d}",
            type=ticket_type,
            priority=rng.choice(PRIORITIES),
            subject=rng.choice(SUBJECTS[ticket_type]),
            created_at=iso_utc(clock()),
        )


def encode_ticket(ticket: Ticket) -> tuple[bytes, bytes]:
    """(key, value) for Kafka: the ticket id as key, compact UTF-8 JSON as value."""
    value = json.dumps(asdict(ticket), separators=(",", ":"), ensure_ascii=False)
    return ticket.ticket_id.encode(), value.encode()
