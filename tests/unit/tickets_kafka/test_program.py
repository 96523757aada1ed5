"""The programs' command lines: --help that answers, flags over the environment, a bad flag
refused with exit code 2 and the usage, before anything connects."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys

import pytest

from tests.harness import RecordingEnv
from tickets_job.connector import manifest
from tickets_job.errors import EXIT_CODES, CheckpointError, QueryFailedError, RefusedError
from tickets_job.settings import Settings as JobSettings
from tickets_kafka.settings import ConfigError, variables
from tickets_local.process import ROOT
from tickets_producer.app import EXIT_CODES as PRODUCER_EXIT_CODES
from tickets_producer.app import environment, parse_args
from tickets_producer.settings import Settings as ProducerSettings


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=60, env=env)


PROGRAMS = {"tickets_producer": ProducerSettings, "tickets_job": JobSettings}


@pytest.mark.parametrize("program", PROGRAMS)
def test_help_lists_every_variable_with_its_default_and_the_exit_codes_and_sends_nothing(program):
    result = run(program, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {program}")
    for words in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "LOG_LEVEL", "Exits:"):
        assert words in result.stdout, words
    for variable in variables(PROGRAMS[program]):
        assert f"  {variable.name}={variable.default}\n" in result.stdout, variable.name
    assert result.stderr == ""  # no log line: nothing started


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_variables_listed_are_those_the_program_reads(program):
    # MSK IAM is the one login that reads AWS_REGION.
    env = RecordingEnv({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "AWS_MSK_IAM"})
    with contextlib.suppress(ConfigError):
        PROGRAMS[program].from_env(env)
    listed = [variable.name for variable in variables(PROGRAMS[program])]
    assert len(listed) == len(set(listed))
    assert env.asked == set(listed)


def test_the_job_lists_its_exit_codes_from_its_errors():
    result = run("tickets_job", "--help")
    exits = result.stdout[result.stdout.index("Exits:") :]
    assert [int(line.split()[0]) for line in exits.splitlines()[1:] if line[2:3].isdigit()] == [0, 1, 2, 3]
    assert {error.exit_code for error in (RefusedError, CheckpointError, QueryFailedError)} == {1, 2, 3}
    assert " ".join(EXIT_CODES[3].split()[:4]) in " ".join(exits.split())


@pytest.mark.parametrize("program", PROGRAMS)
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


SECRET = "s3cret-Pässword"
JOB_ONLY = [
    ("MAX_OFFSETS_PER_TRIGGER", "²", "is not a whole number"),  # str.isdigit() is true, int() fails
    ("TRIGGER_INTERVAL", "banana", "is not a Spark interval"),
    ("SPARK_DRIVER_MEMORY", "lots", "is not a memory size"),
    ("DLQ_TOPIC", "client_tickets", "is KAFKA_TOPIC itself"),
]
BOTH = [
    ("KAFKA_TOPIC", "a,b", "is not one Kafka topic's name"),
    ("KAFKA_SSL_CAFILE", "{der}", "is not a PEM file holding a certificate"),
    ("KAFKA_SSL_CAFILE", "{with_key}", "holds a private key as well"),
    ("KAFKA_SASL_PASSWORD_FILE", "{bom}", "starts with a byte-order mark"),
    ("KAFKA_SASL_PASSWORD_FILE", "{ls}", "holds a line separator (U+2028)"),
    ("KAFKA_SASL_PASSWORD_FILE", SECRET, "cannot be read"),  # the password in the wrong variable
]
BAD_SETTINGS = [("tickets_job", *case) for case in JOB_ONLY + BOTH] + [
    ("tickets_producer", *case) for case in BOTH
]


@pytest.fixture
def bad_files(tmp_path):
    """A CA certificate in DER, one in PEM followed by its private key, and password files with a
    byte-order mark and a U+2028."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ca",
         "-keyout", str(tmp_path / "ca.key"), "-outform", "der", "-out", str(tmp_path / "ca.der")],
        check=True, capture_output=True,
    )  # fmt: skip
    pem = subprocess.run(
        ["openssl", "x509", "-inform", "der", "-in", str(tmp_path / "ca.der")],
        check=True,
        capture_output=True,
    ).stdout
    (tmp_path / "with-key.pem").write_bytes(pem + (tmp_path / "ca.key").read_bytes())
    (tmp_path / "bom").write_text(f"\ufeff{SECRET}\n", "utf-8")
    (tmp_path / "ls").write_text(f"{SECRET}\u2028\n", "utf-8")
    return {
        "der": tmp_path / "ca.der",
        "with_key": tmp_path / "with-key.pem",
        "bom": tmp_path / "bom",
        "ls": tmp_path / "ls",
    }


@pytest.mark.parametrize(("program", "variable", "value", "why"), BAD_SETTINGS)
def test_a_bad_setting_exits_2_at_once_with_one_line_naming_it_and_no_secret(
    program, variable, value, why, bad_files
):
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # nothing listens: a program that went on would fail
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_USERNAME": "tickets",
        "KAFKA_SASL_PASSWORD": SECRET,
    }
    if variable == "KAFKA_SASL_PASSWORD_FILE":
        del env["KAFKA_SASL_PASSWORD"]
    env[variable] = value.format(**bad_files)
    result = run(program, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.splitlines()
    assert variable in line and why in line
    assert SECRET not in result.stderr


@pytest.mark.parametrize("ivy", ["empty", "resolved"])
def test_without_java_the_job_exits_2_with_one_line_saying_so(tmp_path, ivy):
    """A JVM that cannot start (JAVA_HOME without java): exit 2 and one line after the launcher's own,
    no traceback; at the first start (Ivy's JVM) and with the jars resolved (Spark's)."""
    ivy_dir = tmp_path / "ivy"
    if ivy == "resolved":
        (ivy_dir / "jars").mkdir(parents=True)
        (ivy_dir / "jars" / "any.jar").touch()
        manifest(ivy_dir).write_text("any.jar\n")
    folders = {
        name: str(tmp_path / name.lower()) for name in ("OUTPUT_DIR", "QUARANTINE_DIR", "CHECKPOINT_DIR")
    }
    env = {
        "PATH": "/usr/bin:/bin",
        "JAVA_HOME": str(tmp_path / "no-java"),
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "IVY_DIR": str(ivy_dir),
        "LAKE_URI": "off",
        "METRICS_PORT": "off",
        "CLASS_ARCHIVE": "false",
        **folders,
    }
    result = run("tickets_job", env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert "Spark did not start" in line, line
    if ivy == "empty":  # the launcher's own words, from Ivy's messages
        assert "no-java/bin/java" in line, line
    assert "Is Java 17 on the PATH or in JAVA_HOME?" in line
    assert "Traceback" not in result.stderr


def test_the_exit_code_table_in_the_docs_is_the_programs_own():
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    rows = re.findall(r"^\| (\d) \| ([^|]*) \| ([^|]*) \|$", text, re.M)
    assert rows == [
        (str(code), PRODUCER_EXIT_CODES.get(code, ""), meaning) for code, meaning in EXIT_CODES.items()
    ], "docs/OPERATIONS.md#exit-codes differs from the programs' EXIT_CODES"
