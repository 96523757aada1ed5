"""Ticket generation and wire encoding (tickets_producer.tickets)."""

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from itertools import islice

from tickets_producer.tickets import TICKET_TYPES, Ticket, encode_ticket, generate_tickets, iso_utc

START = datetime(2026, 11, 26, 6, 30, tzinfo=timezone.utc)


def fixed_clock() -> datetime:
    return START


def generate(count: int, seed: int) -> list[Ticket]:
    return list(generate_tickets(count, seed, fixed_clock))


def test_same_seed_gives_the_same_tickets():
    assert generate(200, 7) == generate(200, 7)


def test_other_seed_gives_other_ids():
    first = {t.ticket_id for t in generate(200, 1)}
    second = {t.ticket_id for t in generate(200, 2)}
    assert not first & second


def test_ids_are_unique_and_types_roughly_even():
    tickets = generate(10_000, 42)
    assert len({t.ticket_id for t in tickets}) == 10_000
    per_type = Counter(t.type for t in tickets)
    assert set(per_type) == set(TICKET_TYPES)
    assert all(2_200 <= n <= 2_800 for n in per_type.values()), per_type


def test_created_at_is_read_from_the_clock_as_each_ticket_is_made():
    readings = iter([START + timedelta(seconds=n) for n in (0, 5, 60)])
    made = []
    for ticket in generate_tickets(3, 42, lambda: next(readings)):
        made.append(ticket.created_at)  # a send happens here, after the ticket was made
    assert made == ["2026-11-26T06:30:00.000Z", "2026-11-26T06:30:05.000Z", "2026-11-26T06:31:00.000Z"]


def test_a_huge_count_is_made_lazily_and_never_dated_after_now():
    tickets = generate_tickets(10**12, 42)  # would not fit in memory if it were a list
    first = list(islice(tickets, 1_000))
    now = datetime.now(timezone.utc)
    assert all(datetime.fromisoformat(t.created_at.replace("Z", "+00:00")) <= now for t in first)


def test_iso_utc_converts_other_zones():
    paris = datetime.fromisoformat("2026-11-26T07:30:00.250+01:00")
    assert iso_utc(paris) == "2026-11-26T06:30:00.250Z"


def test_encoding_is_keyed_compact_json_with_every_field():
    ticket = Ticket("id-1", "CUST-00001", "BILLING", "HIGH", "Refund é", "2026-11-26T06:30:00.000Z")
    key, value = encode_ticket(ticket)
    assert key == b"id-1"
    assert value.decode() == (
        '{"ticket_id":"id-1","customer_id":"CUST-00001","type":"BILLING","priority":"HIGH",'
        '"subject":"Refund é","created_at":"2026-11-26T06:30:00.000Z"}'
    )
    assert json.loads(value) == {
        "ticket_id": "id-1",
        "customer_id": "CUST-00001",
        "type": "BILLING",
        "priority": "HIGH",
        "subject": "Refund é",
        "created_at": "2026-11-26T06:30:00.000Z",
    }
