"""The lake and the checkpoint on a real S3 server (S3Proxy, started like Kafka): kill -9 in the
middle of micro-batches, the server stopped for 30 s, two jobs on one checkpoint, refused
credentials. The tables are read back with delta-rs, never with Spark."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from deltalake import DeltaTable

from tests.harness import expected_counts, produce, produce_in_background, read_counts, read_lake
from tickets_job.lake import CHECKPOINT_INTERVAL
from tickets_job.tables import COUNTS, TICKETS
from tickets_local.jobs import Job, job_env

pytestmark = pytest.mark.e2e


def s3_env(broker, topic, workdir, s3, prefix: str, **extra: str) -> dict[str, str]:
    """A job whose checkpoint and lake are both on the S3 server, under `prefix`."""
    return job_env(
        broker,
        topic,
        workdir,
        CHECKPOINT_DIR=s3.uri(f"{prefix}/checkpoint"),
        LAKE_URI=s3.uri(f"{prefix}/lake"),
        **s3.env,
        **extra,
    )


def keys_under(s3, prefix: str) -> list[str]:
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=prefix + "/")
    return [found["Key"] for found in listed.get("Contents", [])]


def check_lake(job: Job, s3, ledger: dict[str, str]) -> None:
    """Each counted ticket once in the S3 tables, the counts after the last batch the part file's."""
    lake = read_lake(job.lake, s3.storage_options)
    assert lake.ledger() == ledger
    assert lake.counts == read_counts(job.output_dir) == expected_counts(ledger)
    for table in (TICKETS, COUNTS):
        properties = DeltaTable(f"{job.lake}/{table}", storage_options=s3.storage_options).metadata()
        assert properties.configuration["delta.checkpointInterval"] == str(CHECKPOINT_INTERVAL)


def test_kill_9_in_the_middle_of_batches_leaves_every_ticket_once_in_the_s3_lake(broker, topic, workdir, s3):
    # Four batches of 150: each of the three runs killed counts one and dies in the next, the last
    # run counts what is left. (A batch's cost is the tables' commits on S3, whatever its size.)
    env = s3_env(broker, topic, workdir, s3, topic, MAX_OFFSETS_PER_TRIGGER="150")
    ledger = produce(broker, topic, 600, seed=2801)
    job = Job(env, workdir / "job.log")
    for trial in range(3):
        before = sum(read_counts(job.output_dir).values())
        job.start()
        job.wait_for_total(before + 1, timeout=600)
        threading.Event().wait(0.3 * trial)  # at another point of the next batches each time
        job.kill()
    job.start()
    job.wait_for_total(len(ledger), timeout=600)
    assert job.stop(timeout=300) == 0

    check_lake(job, s3, ledger)
    # Everything the job keeps to resume is on S3: pipeline.json, the counts, Spark's checkpoint.
    assert not (workdir / "checkpoint").exists()
    kept = keys_under(s3, f"{topic}/checkpoint")
    assert f"{topic}/checkpoint/pipeline.json" in kept
    assert any(key.startswith(f"{topic}/checkpoint/counts/") for key in kept)
    assert any(key.startswith(f"{topic}/checkpoint/query/offsets/") for key in kept)
    assert f"{topic}/checkpoint/writer.lease" not in kept  # released by the clean stop
    # make query's module reads the same tables on S3.
    query = [sys.executable, "-m", "tickets_query", "--json", "SELECT count(*) AS n FROM tickets"]
    found = subprocess.run(query, env={**env}, capture_output=True, text=True, check=True).stdout
    assert json.loads(found) == {"n": len(ledger)}


def test_the_s3_server_stopped_for_30_s_loses_and_doubles_nothing(broker, topic, workdir, s3):
    env = s3_env(broker, topic, workdir, s3, topic, MAX_OFFSETS_PER_TRIGGER="100")
    job = Job(env, workdir / "job.log").start()
    first = produce(broker, topic, 100, seed=2901)
    job.wait_for_total(100, timeout=600)
    sender, sent = produce_in_background(broker, topic, 300, seed=2902, rate=10)  # 30 s of tickets
    s3.stop()
    time.sleep(30)
    s3.up()
    sender.join()
    ledger = {**first, **sent["ledger"]}
    if job.exited():  # failed cleanly while S3 was away: a restart resumes from the S3 checkpoint
        assert job.process.returncode == 1, job.log()[-3000:]
        job.start()
    job.wait_for_total(len(ledger), timeout=600)
    assert job.stop(timeout=300) == 0
    check_lake(job, s3, ledger)


def test_a_second_job_on_the_same_s3_checkpoint_is_refused(broker, topic, workdir, s3):
    env = s3_env(broker, topic, workdir, s3, topic)
    first = Job(env, workdir / "first.log").start()
    ledger = produce(broker, topic, 100, seed=3001)
    first.wait_for_total(100, timeout=600)
    second = Job({**env, "OUTPUT_DIR": str(workdir / "second")}, workdir / "second.log").start()
    assert second.wait(timeout=300) == 3
    [line] = [line for line in second.log().splitlines() if " ERROR " in line]
    assert "is in use by another job" in line and s3.uri(f"{topic}/checkpoint") in line
    more = produce(broker, topic, 100, seed=3002)  # the first goes on, alone
    first.wait_for_total(200, timeout=600)
    assert first.stop(timeout=300) == 0
    check_lake(first, s3, {**ledger, **more})


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"AWS_SECRET_ACCESS_KEY": "not-the-secret-0123456789"}, "S3 refuses the job's credentials"),
        ({"CHECKPOINT_DIR": "s3a://no-such-bucket/cp"}, "bucket 'no-such-bucket' does not exist"),
        ({"CHECKPOINT_DIR": "s3a://Bad_Bucket/cp"}, "is not a local path or s3a://bucket/prefix"),
    ],
)
def test_an_unusable_s3_location_ends_the_job_before_it_reads_anything(
    broker, topic, workdir, s3, change, said
):
    env = {**s3_env(broker, topic, workdir, s3, topic), **change}
    job = Job(env, workdir / "job.log").start()
    assert job.wait(timeout=300) == 2
    errors = [line for line in job.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and said in errors[0] and "CHECKPOINT_DIR" in errors[0], errors
    assert env["AWS_SECRET_ACCESS_KEY"] not in job.log()
    assert not job.events("started")
