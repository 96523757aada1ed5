"""The checkpoint's version marker (tickets_job.checkpoint)."""

import json

import pytest

from tickets_job.checkpoint import MARKER, QUERY_VERSION, IncompatibleCheckpointError, claim_checkpoint


def test_a_new_checkpoint_is_marked_with_the_query_version(tmp_path):
    claim_checkpoint(tmp_path / "cp")
    assert json.loads((tmp_path / "cp" / MARKER).read_text())["query_version"] == QUERY_VERSION


def test_a_checkpoint_of_the_same_version_is_accepted_again(tmp_path):
    claim_checkpoint(tmp_path)
    (tmp_path / "counts").mkdir()
    claim_checkpoint(tmp_path)


def test_a_checkpoint_of_another_version_is_refused_with_the_reset_command(tmp_path):
    claim_checkpoint(tmp_path, version=1)
    with pytest.raises(IncompatibleCheckpointError, match="version 1 of the query") as error:
        claim_checkpoint(tmp_path, version=2)
    assert "make clean" in str(error.value)


def test_a_checkpoint_without_marker_is_refused(tmp_path):
    (tmp_path / "offsets").mkdir()
    with pytest.raises(IncompatibleCheckpointError, match=r"no pipeline\.json"):
        claim_checkpoint(tmp_path)
