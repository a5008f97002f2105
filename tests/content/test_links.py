"""cms.content.links: which relative links a body holds, and on which line (code never counts)."""

from __future__ import annotations

import pytest

from cms.content.links import content_links, link_targets

CASES = {
    "inline and reference": ("[a](x.md) and [b][r]\n\n[r]: ../y.md#part\n", [("x.md", 0), ("../y.md#part", 2)]),
    "angle brackets": ("[a](<x.md>)\n", [("x.md", 0)]),
    "fenced code": ("```\n[a](in-code.md)\n```\n[b](out.md)\n", [("out.md", 3)]),
    "indented fence": ("   ~~~py\n[a](in-code.md)\n   ~~~\n[b](out.md)\n", [("out.md", 3)]),
    "four spaces is no fence": ("    ```\n[a](x.md)\n", [("x.md", 1)]),
    "unclosed fence runs to the end": ("```\n[a](x.md)\n", []),
    "longer closing fence": ("````\n```\n[a](in.md)\n`````\n[b](out.md)\n", [("out.md", 4)]),
    "code span": ("`[a](in.md)` and ``[b](in.md)`` then [c](out.md)\n", [("out.md", 0)]),
    "code span over lines": ("`[a]\n(in.md)` [b](out.md)\n", [("out.md", 1)]),
    "unmatched backtick": ("` [a](x.md)\n", [("x.md", 0)]),
    "definition indented four is none": ("    [r]: x.md\n", []),
    "no links at all": ("Plain text with `code` and ```\nfence\n```\n", []),
}


@pytest.mark.parametrize(("markdown", "expected"), CASES.values(), ids=CASES.keys())
def test_link_targets(markdown: str, expected: list[tuple[str, int]]) -> None:
    assert link_targets(markdown) == expected


def test_content_links_keep_only_relative_markdown_files() -> None:
    body = "[a](02-b.md) [b](https://x.org/c.md) [c](/abs.md) [d](#top) [e](img.png) [f](../../x.md?q=1#f)\n"
    assert content_links("courses/c/01-s/01-a.md", body) == [
        ("02-b.md", 0, "courses/c/01-s/02-b.md"), ("../../x.md?q=1#f", 0, "courses/x.md")]
