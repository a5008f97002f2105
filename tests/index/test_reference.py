"""comrak (production) against markdown-it-py (the reference) on the fixture corpus.

Every rendering fixture and every body of the sample content and the test
site renders to the same HTML, table of contents and word count with both,
except the fixtures listed in `DIFFERENCES`, each with what differs and why.
A listed fixture must really differ, so the list stays exact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cms.content.frontmatter import load_markdown
from cms.index.rendering import render
from tests.index import markdown_it_reference as reference
from tests.index.test_rendering import FIXTURE_SOURCES, fixture_resolver

ROOT = Path(__file__).parents[2]
CONTENT_BODIES = sorted([*(ROOT / "content").rglob("*.md"), *(ROOT / "tests" / "fixtures" / "site").rglob("*.md")])

DIFFERENCES = {
    "raw_html": "a raw HTML block keeps CommonMark's extent, and neighbouring blocks share one paragraph "
                "(markdown-it, with HTML off, makes a paragraph of each)",
    "raw_html_block": "markdown inside a raw HTML block stays text (markdown-it renders it)",
    "unsafe_links": "a refused link or image shows its text, a refused autolink its URL without the angle "
                    "brackets, and a reference definition to a refused URL is still a definition (markdown-it "
                    "shows each construct's source)",
}


def _both(markdown: str) -> tuple[tuple[str, list[tuple[int, str, str]], int], ...]:
    ours, theirs = render(markdown, fixture_resolver), reference.render(markdown, fixture_resolver)
    return tuple((r.html, [(e.level, e.id, e.title) for e in r.toc], r.words) for r in (ours, theirs))


@pytest.mark.parametrize("source", FIXTURE_SOURCES, ids=lambda path: path.stem)
def test_fixture_renders_as_the_reference_does(source: Path) -> None:
    ours, theirs = _both(source.read_text(encoding="utf-8"))
    if source.stem in DIFFERENCES:
        assert ours != theirs, f"{source.stem} no longer differs: remove it from DIFFERENCES"
    else:
        assert ours == theirs


@pytest.mark.parametrize("path", CONTENT_BODIES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_content_body_renders_as_the_reference_does(path: Path) -> None:
    body = load_markdown(path.read_bytes(), path.name).body
    ours, theirs = _both(body)
    assert ours == theirs


def test_every_difference_names_a_fixture() -> None:
    assert set(DIFFERENCES) <= {path.stem for path in FIXTURE_SOURCES}
