"""Where the packages and jars come from: each lock holds its requirements file's pins with their
hashes, and every installer checks them (pip --require-hashes, Maven --strict-checksums)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.stackfiles import ROOT, dockerfile

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)")
# lock -> the requirements file it is made from, and the pins it leaves out on purpose
LOCKS = {
    "requirements-dev.lock": ("requirements-dev.txt", set()),
    "requirements-bench.lock": ("requirements-bench.txt", set()),
    "producer/requirements.lock": ("producer/requirements.txt", set()),
    "spark/requirements.lock": ("spark/requirements.txt", {"pyspark"}),  # the Spark image has its own
}


def name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` in a requirements file and the files it includes."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            found |= pins(path.parent / line.split()[1])
        elif match := PIN.match(line):
            found[name(match[1])] = match[2]
    return found


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of every package in a lock."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = name(match[1])
            found[current] = (match[2], 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
        elif not line.startswith(" "):
            current = None
    return found


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_lock_holds_its_pins_each_package_with_its_hashes(lock):
    source, left_out = LOCKS[lock]
    entries = locked(ROOT / lock)
    wanted = {package: version for package, version in pins(ROOT / source).items() if package not in left_out}
    assert {package: entries.get(package, ("missing", 0))[0] for package in wanted} == wanted
    assert all(hashes > 0 for _, hashes in entries.values()), entries
    assert not left_out & entries.keys()
    assert "pip" in entries or lock == "requirements-bench.lock"  # installed over the dev lock's pip
    no_machine_paths = r"^--(index-url|extra-index-url|find-links|trusted-host)"
    assert not re.search(no_machine_paths, (ROOT / lock).read_text(), re.M)


def test_every_install_checks_the_hashes():
    makefile = (ROOT / "Makefile").read_text()
    assert "PIP_INSTALL = -m pip install --quiet --disable-pip-version-check --require-hashes" in makefile
    for lock in ("requirements-dev.lock", "requirements-bench.lock", "producer/requirements.lock"):
        assert f"$(PIP_INSTALL) -r {lock}" in makefile, lock
    assert "pip install --upgrade" not in makefile
    for image in ("producer", "spark"):
        installs = [line for line in dockerfile(image).splitlines() if re.search(r"\bpip3? install\b", line)]
        checked = ("--require-hashes" in line or "--no-deps" in line for line in installs)  # --no-deps: ours
        assert installs and all(checked), installs
    assert "mvn -q -B --strict-checksums" in (ROOT / "local" / "kafka" / "kafka.sh").read_text()
