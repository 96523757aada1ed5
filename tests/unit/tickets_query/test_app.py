"""tickets_query: SQL over the lake, its locations and credentials and its output, without Spark."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickets_kafka.settings import ConfigError
from tickets_query.app import Lake, LakeQueryError, render, run, s3_options


def test_the_query_reads_lake_uri_and_refuses_off_and_malformed_uris(tmp_path, monkeypatch):
    # The key pair from a credentials file, as the job's clients find it: delta-rs does not read one.
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = from-file\naws_secret_access_key = its-secret\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    assert Lake.from_env({}).uri == str(Path("data/lake").resolve())
    assert Lake.from_env({"LAKE_URI": "s3a://lake/x/", "AWS_ENDPOINT_URL": "http://h:9"}) == Lake(
        "s3a://lake/x",
        {
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": "http://h:9",
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "from-file",
            "AWS_SECRET_ACCESS_KEY": "its-secret",
        },
    )
    set_in_env = {"LAKE_URI": "s3a://lake/x", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    assert "AWS_ACCESS_KEY_ID" not in Lake.from_env(set_in_env).storage_options  # delta-rs reads those
    with pytest.raises(ConfigError, match="LAKE_URI=off"):
        Lake.from_env({"LAKE_URI": "off"})
    with pytest.raises(ConfigError, match="LAKE_URI='s3a://A/x' is not"):
        Lake.from_env({"LAKE_URI": "s3a://A/x"})
    assert s3_options({"AWS_REGION": "eu-west-1"}) == {"AWS_REGION": "eu-west-1"}


def test_a_lake_without_tables_says_so(tmp_path):
    with pytest.raises(LakeQueryError, match=r"no Delta table at .*/tickets yet"):
        run(Lake(str(tmp_path), {}), "SELECT count(*) FROM tickets")


def test_the_result_is_an_aligned_table_with_its_row_count():
    assert render(["team", "n"], [("Billing Team", 3), (None, 12)]) == (
        "team          n\n------------  --\nBilling Team  3\n              12\n(2 rows)\n"
    )
