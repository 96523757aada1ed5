"""One writer per checkpoint (tickets_job.lease): a local flock, and the S3 lease's protocol over a
folder with S3's conditional writes (here in memory; tests/e2e/test_lake.py runs it on S3Proxy)."""

from __future__ import annotations

import json

import pytest

from tickets_job.lease import LEASE, CheckpointInUseError, WriterLease
from tickets_job.storage import LocalFolder


class ConditionalFolder:
    """A folder with S3's semantics for the lease: versions, If-None-Match, If-Match."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, str]] = {}
        self.writes = 0

    def __str__(self) -> str:
        return "s3a://bucket/cp"

    def _put(self, name: str, text: str) -> str:
        self.writes += 1
        self.files[name] = (text, f"etag-{self.writes}")
        return self.files[name][1]

    def read_text(self, name: str) -> str | None:
        return self.files.get(name, (None,))[0]

    def read_versioned(self, name: str) -> tuple[str, str] | None:
        return self.files.get(name)

    def create_text(self, name: str, text: str) -> str | None:
        return None if name in self.files else self._put(name, text)

    def replace_text(self, name: str, text: str, version: str) -> str | None:
        return self._put(name, text) if self.files.get(name, ("", ""))[1] == version else None

    def delete(self, name: str) -> None:
        self.files.pop(name, None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.on_sleep = lambda: None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.on_sleep()


def lease(folder: ConditionalFolder, clock: Clock) -> WriterLease:
    return WriterLease(folder, ttl=30, renew_every=10, clock=clock, sleep=clock.sleep)


def from_another_machine(folder: ConditionalFolder) -> None:
    text, version = folder.files[LEASE]
    folder.files[LEASE] = (json.dumps({**json.loads(text), "host": "elsewhere"}), version)


def test_a_local_checkpoint_takes_one_job_at_a_time(tmp_path):
    first = WriterLease(LocalFolder(tmp_path))
    first.acquire()
    with pytest.raises(CheckpointInUseError, match=r"in use by another job \(\{.*\"pid\""):
        WriterLease(LocalFolder(tmp_path)).acquire()
    first.release()  # as when the process ends, however it ends
    WriterLease(LocalFolder(tmp_path)).acquire()


def test_a_renewed_lease_refuses_the_second_job():
    folder, clock = ConditionalFolder(), Clock()
    first = lease(folder, clock)
    first.acquire()
    from_another_machine(folder)
    first.version = folder.files[LEASE][1]
    clock.on_sleep = lambda: clock.now % 10 < 2 and first.renew()  # the holder renews every 10 s
    with pytest.raises(CheckpointInUseError, match="in use by another job"):
        lease(folder, clock).acquire()
    assert clock.now <= 12


def test_an_unrenewed_lease_is_taken_over_and_its_holder_stops_at_its_next_batch(caplog):
    folder, clock = ConditionalFolder(), Clock()
    first = lease(folder, clock)
    first.acquire()
    from_another_machine(folder)
    first.version = folder.files[LEASE][1]
    second = lease(folder, clock)
    second.acquire()  # the first was cut off: no renewal for 30 s
    assert clock.now >= 30
    assert "took over the checkpoint's lease, not renewed for 30 s" in caplog.text
    assert json.loads(folder.files[LEASE][0])["owner"] == second.holder["owner"]
    assert not first.renew()
    with pytest.raises(CheckpointInUseError, match="was taken over by another job"):
        first.check()
    first.release()  # leaves the new holder's lease alone
    assert LEASE in folder.files


def test_a_lease_of_a_process_of_this_machine_that_is_gone_is_taken_at_once(caplog):
    folder, clock = ConditionalFolder(), Clock()
    killed = lease(folder, clock)
    killed.acquire()
    text, version = folder.files[LEASE]
    folder.files[LEASE] = (json.dumps({**json.loads(text), "pid": 2**22 + 1}), version)  # no such pid
    lease(folder, clock).acquire()
    assert clock.now == 0
    assert "took over the checkpoint's lease, its process on this machine is gone" in caplog.text


def test_a_clean_stop_releases_the_lease():
    folder, clock = ConditionalFolder(), Clock()
    first = lease(folder, clock)
    first.acquire()
    first.release()
    assert LEASE not in folder.files
    lease(folder, clock).acquire()
    assert clock.now == 0
