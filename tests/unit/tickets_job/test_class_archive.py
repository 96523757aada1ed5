"""The driver's class archive (tickets_job.class_archive): written once at a clean exit, renamed
into place only when complete, mapped by later starts; checked with a real JVM."""

from __future__ import annotations

import os
import subprocess
import time

from tickets_job.class_archive import STALE_SECONDS, ClassArchive


def archive_in(tmp_path) -> ClassArchive:
    return ClassArchive.for_session(tmp_path / "class-archive", ())


def test_a_first_start_writes_the_archive_under_a_name_of_its_own(tmp_path):
    archive = archive_in(tmp_path)
    options = archive.java_options()
    assert f"-XX:ArchiveClassesAtExit={archive.pending}" in options
    assert archive.writing
    assert archive.pending.name.endswith(f".{os.getpid()}.tmp")


def test_a_later_start_maps_the_archive(tmp_path):
    archive = archive_in(tmp_path)
    archive.path.parent.mkdir(parents=True)
    archive.path.write_bytes(b"archive")
    assert f"-XX:SharedArchiveFile={archive.path}" in archive.java_options()
    assert not archive.writing


def test_the_name_changes_with_the_jars_the_session_loads(tmp_path):
    plain = ClassArchive.for_session(tmp_path, ())
    iam = ClassArchive.for_session(tmp_path, ("software.amazon.msk:aws-msk-iam-auth:2.3.2",))
    assert plain.path != iam.path


def test_a_stale_temporary_archive_is_removed_and_a_fresh_one_kept(tmp_path):
    archive = archive_in(tmp_path)
    archive.path.parent.mkdir(parents=True)
    stale = archive.path.with_name(f"{archive.path.name}.1.tmp")
    fresh = archive.path.with_name(f"{archive.path.name}.2.tmp")
    for leftover in (stale, fresh):
        leftover.write_bytes(b"half an archive")
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    archive.java_options()
    assert not stale.exists()
    assert fresh.exists()


def java(*options: str) -> subprocess.Popen:
    return subprocess.Popen(["java", *options, "-version"], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)


def test_a_clean_exit_puts_a_complete_archive_in_place_that_a_jvm_maps(tmp_path):
    archive = archive_in(tmp_path)
    options = archive.java_options().split()
    archive.keep(java(*options))
    assert archive.path.is_file()
    assert not archive.pending.exists()
    # -Xshare:on fails the start when the archive cannot be mapped.
    mapped = subprocess.run(
        ["java", f"-XX:SharedArchiveFile={archive.path}", "-Xshare:on", "-version"],
        capture_output=True,
        text=True,
    )
    assert mapped.returncode == 0, mapped.stderr
    assert "sharing" in mapped.stderr


def test_a_jvm_that_fails_leaves_no_archive(tmp_path):
    archive = archive_in(tmp_path)
    archive.java_options()
    archive.pending.write_bytes(b"written by a JVM that then failed")
    archive.keep(java("-XX:+NoSuchOption"))
    assert not archive.path.exists()
    assert not archive.pending.exists()


def test_a_start_that_mapped_the_archive_leaves_it_alone(tmp_path):
    archive = archive_in(tmp_path)
    archive.path.parent.mkdir(parents=True)
    archive.path.write_bytes(b"archive")
    archive.java_options()
    archive.keep(java())
    assert archive.path.read_bytes() == b"archive"
