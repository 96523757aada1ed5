"""The exported part file: exact format and atomic replacement (tickets_job.export)."""

import json
import os
import stat
import threading

from tickets_job.export import (
    PART_GLOB,
    current_part,
    export_counts,
    export_rejects,
    printable,
    render_counts,
    write_atomically,
)


def test_render_is_sorted_compact_json_lines():
    text = render_counts([("TECHNICAL", 48), ("ACCOUNT", 52), ("BILLING", 49), ("GENERAL", 51)])
    assert text == (
        '{"type":"ACCOUNT","ticket_count":52}\n'
        '{"type":"BILLING","ticket_count":49}\n'
        '{"type":"GENERAL","ticket_count":51}\n'
        '{"type":"TECHNICAL","ticket_count":48}\n'
    )


def test_first_export_creates_one_part_file(tmp_path):
    path = export_counts(tmp_path / "out", [("BILLING", 1)])
    assert path is not None
    assert path.parent == tmp_path / "out"
    assert path.name.startswith("part-00000-") and path.name.endswith(".json")
    assert path.read_text() == '{"type":"BILLING","ticket_count":1}\n'


def test_later_exports_replace_the_same_file(tmp_path):
    first = export_counts(tmp_path, [("BILLING", 1)])
    second = export_counts(tmp_path, [("BILLING", 2), ("ACCOUNT", 1)])
    assert first == second
    assert [p.name for p in tmp_path.iterdir()] == [first.name]
    assert first.read_text().splitlines() == [
        '{"type":"ACCOUNT","ticket_count":1}',
        '{"type":"BILLING","ticket_count":2}',
    ]


def test_rewriting_the_same_batch_gives_identical_bytes(tmp_path):
    counts = [("ACCOUNT", 5), ("GENERAL", 7)]
    path = export_counts(tmp_path, counts)
    before = path.read_bytes()
    export_counts(tmp_path, counts)  # Spark re-running the batch after a crash
    assert path.read_bytes() == before


def test_an_empty_result_never_erases_a_good_one(tmp_path):
    path = export_counts(tmp_path, [("BILLING", 3)])
    assert export_counts(tmp_path, []) is None
    assert path.read_text() == '{"type":"BILLING","ticket_count":3}\n'
    assert export_counts(tmp_path / "fresh", []) is None
    assert not (tmp_path / "fresh").exists() or current_part(tmp_path / "fresh") is None


def test_leftovers_of_a_killed_writer_are_removed(tmp_path):
    path = export_counts(tmp_path, [("BILLING", 3)])
    (tmp_path / f".{path.name}.dead.tmp").write_text('{"type":"BILL')
    export_counts(tmp_path, [("BILLING", 4)])
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_reader_never_sees_no_file_two_files_or_a_partial_file(tmp_path):
    export_counts(tmp_path, [("ACCOUNT", 0)])
    done = threading.Event()
    seen: list[str] = []

    def write() -> None:
        for n in range(1, 400):
            write_atomically(tmp_path, render_counts([("ACCOUNT", n), ("BILLING", n)]) * 200)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set():
        parts = sorted(tmp_path.glob(PART_GLOB))
        assert len(parts) == 1
        text = parts[0].read_text()
        lines = text.splitlines()
        assert all(json.loads(line)["ticket_count"] >= 0 for line in lines)
        assert len(lines) in (1, 400), len(lines)
        seen.append(text)
    writer.join()
    assert len(set(seen)) > 1, "the reader should have seen several versions"


def test_rejects_go_to_one_file_per_batch_and_a_rerun_replaces_it(tmp_path):
    rows = [
        {"reason": "empty value", "topic": "t", "partition": 0, "offset": 7, "value_bytes": 0, "raw": ""},
        {
            "reason": "invalid UTF-8",
            "topic": "t",
            "partition": 2,
            "offset": 9,
            "value_bytes": 3,
            "raw": "\ufffd",
        },
    ]
    path = export_rejects(tmp_path, 12, rows)
    assert path == tmp_path / "batch-000012.jsonl"
    first = path.read_bytes()
    assert [json.loads(line) for line in first.decode().splitlines()] == rows
    export_rejects(tmp_path, 12, rows)  # the same batch again, after a crash
    assert path.read_bytes() == first
    assert export_rejects(tmp_path, 13, []) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch-000012.jsonl"]


def test_quarantine_lines_and_log_values_escape_what_readers_take_for_line_ends(tmp_path):
    hostile = "a\nb\x1b[2Jc\x7fd\x85e\x9bf\u2028g\u2029h"
    written = export_rejects(tmp_path, 1, [{"reason": f"unknown type '{hostile}'"}])
    content = written.read_text(encoding="utf-8")
    assert content.count("\n") == 1 and content.endswith("\n")
    assert not any(char in content for char in "\x1b\x7f\x85\x9b\u2028\u2029")
    assert json.loads(content)["reason"] == f"unknown type '{hostile}'"  # the same text, escaped
    assert printable(hostile) == "a\\u000ab\\u001b[2Jc\\u007fd\\u0085e\\u009bf\\u2028g\\u2029h"


def test_no_file_the_job_writes_is_readable_by_every_user(tmp_path):
    old = os.umask(0o022)  # the usual umask, which leaves a plain open()'s files world-readable
    try:
        part = export_counts(tmp_path / "out", [("BILLING", 1)])
        rejects = export_rejects(tmp_path / "quarantine", 0, [{"reason": "empty value"}])
    finally:
        os.umask(old)
    for path in (part, rejects):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
