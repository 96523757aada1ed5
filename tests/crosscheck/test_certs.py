"""local/kafka/certs.sh: what its certificates carry, read back by openssl, and when it makes new ones."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from tests.stackfiles import ROOT

CERTS_SH = ROOT / "local" / "kafka" / "certs.sh"


def certs(folder: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        [str(CERTS_SH), *args, str(folder)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def text_of(certificate: Path) -> str:
    return openssl("x509", "-in", str(certificate), "-noout", "-text")


def days_left(certificate: Path) -> int:
    end = openssl("x509", "-in", str(certificate), "-noout", "-enddate").strip().removeprefix("notAfter=")
    return (datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC) - datetime.now(UTC)).days


def test_certificates_carry_what_strict_verification_asks_for(tmp_path):
    certs(tmp_path)
    ca = text_of(tmp_path / "ca.pem")
    assert "Basic Constraints: critical\n                CA:TRUE" in ca
    assert "Key Usage: critical\n                Certificate Sign, CRL Sign" in ca
    assert "Subject Key Identifier" in ca
    broker = text_of(tmp_path / "broker.crt")
    assert "Key Usage: critical\n                Digital Signature, Key Encipherment" in broker
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in broker  # also the nodes' client
    assert "Authority Key Identifier" in broker and "DNS:localhost" in broker
    assert "TLS Web Client Authentication" in text_of(tmp_path / "client.pem")
    verified = openssl(
        "verify",
        "-x509_strict",
        "-CAfile",
        str(tmp_path / "ca.pem"),
        str(tmp_path / "broker.crt"),
        str(tmp_path / "client.pem"),
    )
    assert verified.count(": OK") == 2
    assert days_left(tmp_path / "ca.pem") in (3649, 3650)
    assert days_left(tmp_path / "broker.crt") in (824, 825)


def test_certificates_are_kept_until_the_last_30_days_then_made_again(tmp_path):
    certs(tmp_path, CERT_DAYS="60")
    first_ca = (tmp_path / "ca.pem").read_text()
    assert certs(tmp_path) == ""  # 60 days left: kept
    assert (tmp_path / "ca.pem").read_text() == first_ca

    said = certs(tmp_path, RENEW_DAYS="61")  # as 31 days later
    assert "expires within 61 days: making new ones" in said
    assert (tmp_path / "ca.pem").read_text() != first_ca
    assert days_left(tmp_path / "broker.crt") in (824, 825)

    second_ca = (tmp_path / "ca.pem").read_text()
    certs(tmp_path, "--renew")  # at once, whatever is left
    assert (tmp_path / "ca.pem").read_text() != second_ca


def test_the_folder_and_the_keys_are_the_users_alone(tmp_path):
    old = os.umask(0o022)  # the usual umask, under which a plain mkdir makes a folder anyone may list
    try:
        certs(tmp_path / "tls")
    finally:
        os.umask(old)
    assert (tmp_path / "tls").stat().st_mode & 0o077 == 0
    keys = [path for path in (tmp_path / "tls").iterdir() if b"PRIVATE KEY" in path.read_bytes()]
    assert keys and all(path.stat().st_mode & 0o077 == 0 for path in keys)
