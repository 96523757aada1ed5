"""The programs' command lines: --help that answers, flags over the environment, a bad flag
refused with exit code 2 and the usage, before anything connects."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tickets_producer.app import environment, parse_args


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("program", ["tickets_producer", "tickets_job"])
def test_help_lists_the_variables_and_the_exit_codes_and_sends_nothing(program):
    result = run(program, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {program}")
    for words in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "LOG_LEVEL", "Exits:"):
        assert words in result.stdout, words
    assert result.stderr == ""  # no log line: nothing started


@pytest.mark.parametrize("program", ["tickets_producer", "tickets_job"])
def test_a_flag_it_does_not_know_exits_2_with_the_usage(program):
    result = run(program, "--bogus")
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: python -m {program}")
    assert "unrecognized arguments: --bogus" in result.stderr


def test_the_producers_flags_win_over_its_variables(monkeypatch):
    monkeypatch.setenv("TICKET_COUNT", "200")
    monkeypatch.setenv("TICKET_SEED", "42")
    env = environment(parse_args(["--count", "1000", "--rate", "50"]))
    assert (env["TICKET_COUNT"], env["TICKET_SEED"], env["TICKETS_PER_SECOND"]) == ("1000", "42", "50")


def test_a_bad_flag_value_is_reported_like_a_bad_variable():
    result = run("tickets_producer", "--count", "many", "--rate", "-1", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "TICKET_COUNT='many' is not a whole number" in result.stderr
    assert "TICKETS_PER_SECOND='-1' must be >= 0" in result.stderr
    assert "Traceback" not in result.stderr
