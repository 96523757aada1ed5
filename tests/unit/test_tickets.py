"""Ticket generation and wire encoding (producer/tickets.py)."""

import json
from collections import Counter
from datetime import datetime, timezone

from tickets import TICKET_TYPES, Ticket, encode_ticket, generate_tickets, iso_utc

START = datetime(2026, 11, 26, 6, 30, tzinfo=timezone.utc)


def test_same_seed_gives_the_same_tickets():
    assert generate_tickets(200, 7, START) == generate_tickets(200, 7, START)


def test_other_seed_gives_other_ids():
    first = {t.ticket_id for t in generate_tickets(200, 1, START)}
    second = {t.ticket_id for t in generate_tickets(200, 2, START)}
    assert not first & second


def test_ids_are_unique_and_types_roughly_even():
    tickets = generate_tickets(10_000, 42, START)
    assert len({t.ticket_id for t in tickets}) == 10_000
    per_type = Counter(t.type for t in tickets)
    assert set(per_type) == set(TICKET_TYPES)
    assert all(2_200 <= n <= 2_800 for n in per_type.values()), per_type


def test_created_at_is_iso_utc_in_send_order():
    tickets = generate_tickets(3, 42, START)
    assert [t.created_at for t in tickets] == [
        "2026-11-26T06:30:00.000Z",
        "2026-11-26T06:30:00.001Z",
        "2026-11-26T06:30:00.002Z",
    ]


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
