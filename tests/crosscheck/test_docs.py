"""The docs: each fact told once keeps them short, and every link between them lands.

The hand-written pages (docs/*.md; docs/reports/ is generated) stay within 1,000 lines and the
README within 150; every relative link names a file that exists and, with #anchor, a heading of it
(GitHub's rule: lower case, punctuation dropped, spaces as hyphens)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tickets_local.process import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "tests/compose/README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_lands(page):
    assert broken_links(page) == []


def test_a_broken_link_is_caught(tmp_path):
    page = tmp_path / "PAGE.md"
    (tmp_path / "OTHER.md").write_text("# Other\n\n## The lake's figures\n")
    page.write_text("[a](OTHER.md#the-lakes-figures) [b](OTHER.md#gone) [c](MISSING.md) [d](https://x.y/z)\n")
    assert broken_links(page) == ["OTHER.md#gone: no such heading", "MISSING.md: no such file"]


def test_the_hand_written_docs_stay_short():
    lines = {page.name: len(page.read_text().splitlines()) for page in (ROOT / "docs").glob("*.md")}
    assert sum(lines.values()) <= 1000, lines
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
