"""The images of the compose runtime test: the real ones where they can be had, stand-ins otherwise.

For each image the stack starts from (the Dockerfiles' FROM lines and the compose file's `image:`
entries): one already in the engine is used; else one that `docker pull` gets; else a stand-in is
built from tests/compose/standins/<name>/ and tagged with the official name. Redpanda Console has
no stand-in: it is reported missing and the test leaves its service out.

The stand-ins start from one Debian bookworm root file system made with debootstrap (the mirror is
the one this machine's apt sources name) and carry this machine's CA bundle, as a corporate base
image does; their builds reach the package registries on the host's network.

Run:    python tests/compose/images.py     (one line per image; `make test-compose` runs it)
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from stackfiles import ROOT, base_images

log = logging.getLogger("images")
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("COMPOSE_TEST_CACHE", ROOT / ".cache" / "compose-test"))
BASE = "client-tickets-standin/debian:bookworm"
RELEASE = "bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
STANDINS = {"producer": "python", "spark": "spark", "redpanda": "redpanda"}  # service -> standins/<dir>
LABEL = "client-tickets.standin"


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
        pom = (ROOT / "local-kafka" / "pom.xml").read_text()
        kafka = re.search(r"<kafka.version>(.+)</kafka.version>", pom).group(1)
        lib = ROOT / ".cache" / "kafka" / kafka / "lib"
        if not (lib / ".complete").is_file():
            subprocess.run([str(ROOT / "local-kafka" / "kafka.sh"), "install"], check=True)
        link_tree(lib, context / "kafka-lib", skip={".complete"})
        shutil.copyfile(ROOT / "local-kafka" / "log4j2.yaml", context / "log4j2.yaml")
        fingerprint.update(f"kafka {kafka}".encode())
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


def main() -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    CACHE.mkdir(parents=True, exist_ok=True)
    statuses = {}
    for service, image in base_images().items():
        statuses[service] = {"image": image, "source": provide(service, image)}
        log.info("%-8s %s: %s", service, image, statuses[service]["source"])
    (CACHE / "images.json").write_text(json.dumps(statuses, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
