"""What the compose test builds on the stand-ins goes when it ends, and the stand-ins stay.

With the vfs storage driver each layer is a full copy of its file system: builds left behind by
one run after another filled a CI machine's disk. Run by `make test-compose` (marker `compose`).
"""

from __future__ import annotations

import subprocess

import pytest

from tests.compose import images
from tests.stackfiles import base_images

pytestmark = pytest.mark.compose

LEFTOVER = "client-tickets-test/leftover:latest"


def build_leftover(base: str, generation: int) -> str:
    """A build on `base` with the stand-in label, as the stacks' builds inherit it; returns its id."""
    dockerfile = f"FROM {base}\nLABEL {images.LABEL}=leftover generation={generation}\n"
    subprocess.run(
        ["docker", "build", "--quiet", "--tag", LEFTOVER, "-"], input=dockerfile, text=True, check=True
    )
    inspect = images.docker("image", "inspect", "--format", "{{.Id}}", LEFTOVER, capture_output=True)
    return inspect.stdout.strip()


def exists(image: str) -> bool:
    return images.docker("image", "inspect", image, capture_output=True).returncode == 0


def test_remove_builds_takes_tagged_and_untagged_builds_and_keeps_the_stand_ins():
    bases = base_images()
    untagged = build_leftover(bases["producer"], 1)
    tagged = build_leftover(bases["producer"], 2)  # the tag moves on: the first build is left untagged
    assert untagged != tagged and exists(untagged)

    images.remove_builds(keep=set(bases.values()))

    assert not exists(tagged) and not exists(untagged)
    assert all(exists(bases[service]) for service in images.STANDINS), "the stand-ins stay"
