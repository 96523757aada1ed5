"""The images of the compose runtime test: the real ones where they can be had, stand-ins otherwise.

For each image the stack starts from (the Dockerfiles' FROM lines and the compose file's `image:`
entries): one already in the engine is used; else one that `docker pull` gets; else a stand-in is
built from tests/compose/standins/<name>/ and tagged with the official name. Redpanda Console and
Grafana have no stand-in: they are reported missing and the test leaves their services out.

The stand-ins start from one Debian bookworm root file system made with debootstrap (the mirror is
the one this machine's apt sources name) and carry this machine's CA bundle, as a corporate base
image does; their builds reach the package registries on the host's network.

Disk: with the vfs storage driver (engine.sh's fallback where overlay2 cannot run) every layer of
an image is a full copy of its file system (about 1 GB for each layer of the Spark image). Before
it builds anything, this script removes what earlier runs left: stand-ins no longer needed (an
older Spark after a version bump) and every image built on a stand-in (the stacks' own images,
tagged or left untagged by a rebuild); the compose test removes those again when it ends. Once
the stand-ins are there, it checks that the engine's disk has room for the flows.

Run:    python tests/compose/images.py     (one line per image; `make test-compose` runs it)
        python tests/compose/images.py --remove-builds   (only the removal; the compose test's end)
Writes: COMPOSE_TEST_CACHE/images.json, {service: {"image": ..., "source": present|pulled|stand-in|missing}}
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyspark

from tests.stackfiles import ROOT, base_images
from tickets_kafka import program
from tickets_local import s3

log = logging.getLogger("images")
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("COMPOSE_TEST_CACHE", ROOT / ".cache" / "compose-test"))
BASE = "client-tickets-standin/debian:bookworm"
RELEASE = "bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# service -> standins/<dir>
STANDINS = {
    "producer": "python",
    "spark": "spark",
    "redpanda": "redpanda",
    "prometheus": "prometheus",
    "s3": "s3proxy",
}
LABEL = "client-tickets.standin"  # images built on a stand-in inherit it
# Measured on vfs: the stand-ins take 5.7 GB; the two flows then peak at 19 GB more (the stacks'
# builds, with Compose v2's BuildKit cache), all of which the end of the test gives back.
ROOM_NEEDED_GB = 20


def docker(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], text=True, **kwargs)


def image_label(image: str) -> str | None:
    """The stand-in label of a local image; "" for an image without it, None when it is absent."""
    result = docker(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}', image, capture_output=True
    )
    return result.stdout.strip() if result.returncode == 0 else None


def debian_mirror() -> str:
    """The Debian mirror this machine's apt sources use for RELEASE (deb822 or one-line format)."""
    sources = Path("/etc/apt")
    for path in sorted(sources.glob("sources.list.d/*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if RELEASE in fields.get("Suites", "").split() and fields.get("URIs"):
                return fields["URIs"].split()[0]
    for path in [sources / "sources.list", *sorted(sources.glob("sources.list.d/*.list"))]:
        if path.is_file():
            for match in re.finditer(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{RELEASE}\s", path.read_text(), re.M):
                return match.group(1)
    raise SystemExit(f"no apt source for Debian {RELEASE} on this machine: debootstrap needs a mirror")


def build_base() -> None:
    """Debian RELEASE from debootstrap, with this machine's CA bundle, imported as BASE."""
    if image_label(BASE) is not None:
        return
    mirror = debian_mirror()
    log.info("debootstrap %s from the machine's apt mirror (once, about a minute)", RELEASE)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=ca-certificates", RELEASE, str(rootfs), mirror],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # The machine's bundle, also where update-ca-certificates keeps local certificates.
        shutil.copyfile(CA_BUNDLE, rootfs / "usr/local/share/ca-certificates/machine-bundle.crt")
        shutil.copyfile(CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        docker(
            "import",
            "--change",
            'CMD ["bash"]',
            "-",
            BASE,
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise SystemExit("tar of the debootstrap root file system failed")


def link_tree(source: Path, target: Path, skip: set[str] = frozenset()) -> None:
    """Hard links of `source` under `target` (copies across file systems), without `skip` names."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link, ignore=lambda _, names: skip & set(names))


def stage_context(name: str, context: Path) -> str:
    """Lay out the build context of stand-in `name`; returns a fingerprint of its inputs."""
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(HERE / "standins" / name, context)
    fingerprint = hashlib.sha256()
    for path in sorted((HERE / "standins" / name).iterdir()):
        fingerprint.update(path.name.encode() + path.read_bytes())
    if name == "spark":
        package = Path(pyspark.__file__).parent
        dist = context / "opt-spark"
        for part in ("bin", "sbin", "jars"):
            link_tree(package / part, dist / part)
        link_tree(package, dist / "python" / "pyspark", skip={"bin", "sbin", "jars", "__pycache__"})
        fingerprint.update(f"pyspark {pyspark.__version__}".encode())
    if name == "redpanda":
        pom = (ROOT / "local/kafka" / "pom.xml").read_text()
        kafka = re.search(r"<kafka.version>(.+)</kafka.version>", pom).group(1)
        lib = ROOT / ".cache" / "kafka" / kafka / "lib"
        if not (lib / ".complete").is_file():
            subprocess.run([str(ROOT / "local/kafka" / "kafka.sh"), "install"], check=True)
        link_tree(lib, context / "kafka-lib", skip={".complete"})
        shutil.copyfile(ROOT / "local/kafka" / "log4j2.yaml", context / "log4j2.yaml")
        fingerprint.update(f"kafka {kafka}".encode())
    if name == "s3proxy":
        shutil.copyfile(s3.install(), context / "s3proxy")  # the jar the tests' own S3 server runs
        fingerprint.update(f"s3proxy {s3.VERSION}".encode())
    return fingerprint.hexdigest()[:16]


def build_standin(service: str, image: str) -> bool:
    """Build (or keep, if its inputs are unchanged) the stand-in for `image`; False if rebuilt."""
    name = STANDINS[service]
    context = CACHE / "context" / name
    fingerprint = stage_context(name, context)
    if image_label(image) == fingerprint:
        shutil.rmtree(context)
        return False
    build_base()
    log.info("building the stand-in %s from tests/compose/standins/%s", image, name)
    docker(
        "build",
        "--network=host",
        "--label",
        f"{LABEL}={fingerprint}",
        "--tag",
        image,
        str(context),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    shutil.rmtree(context)
    return True


def provide(service: str, image: str) -> str:
    """Where `image` comes from: present, pulled, stand-in, or missing."""
    label = image_label(image)
    if label == "":
        return "present"
    if label is None:
        pulled = docker("pull", "--quiet", image, capture_output=True)
        if pulled.returncode == 0:
            return "pulled"
        log.info("cannot pull %s: %s", image, (pulled.stderr.strip() or "no reason given").splitlines()[-1])
    if service not in STANDINS:
        return "missing"
    build_standin(service, image)
    return "stand-in"


def remove_builds(keep: set[str]) -> None:
    """Every image that carries the stand-in label, except the stand-ins named in `keep`: the stack
    images built on them by earlier runs and stand-ins no longer needed; then the untagged ones."""
    listed = docker(
        "images", "--filter", f"label={LABEL}", "--format", "{{.Repository}}:{{.Tag}}", capture_output=True
    )
    stale = [name for name in listed.stdout.split() if "<none>" not in name and name not in keep]
    if stale:
        docker("rmi", *stale, capture_output=True)
    pruned = docker("image", "prune", "--force", "--filter", f"label={LABEL}", capture_output=True)
    freed = re.search(r"Total reclaimed space: (\S+)", pruned.stdout)
    log.info("removed %d earlier build(s) and untagged layers of %s", len(stale), freed[1] if freed else "0B")


def check_room() -> None:
    """Stops with the reason when the engine's disk cannot hold the flows."""
    root = docker("info", "--format", "{{.DockerRootDir}}", capture_output=True, check=True).stdout.strip()
    where = Path(root) if os.access(root, os.X_OK) else Path(root).parent
    disk = os.statvfs(where)
    free_gb = disk.f_bavail * disk.f_frsize / 1e9
    if free_gb < ROOM_NEEDED_GB:
        raise SystemExit(
            f"the Docker engine's disk ({root}) has {free_gb:.1f} GB free; the compose test's flows need"
            f" about {ROOM_NEEDED_GB} GB: remove unused images (docker image prune) or make room"
        )
    log.info("%s: %.0f GB free (the flows need about %d GB)", root, free_gb, ROOM_NEEDED_GB)


def main() -> int:
    program.start_logging()
    CACHE.mkdir(parents=True, exist_ok=True)
    needed = set(base_images().values())
    remove_builds(keep=needed)
    if sys.argv[1:] == ["--remove-builds"]:
        return 0
    statuses = {}
    for service, image in base_images().items():
        statuses[service] = {"image": image, "source": provide(service, image)}
        log.info("%-8s %s: %s", service, image, statuses[service]["source"])
    check_room()
    (CACHE / "images.json").write_text(json.dumps(statuses, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
