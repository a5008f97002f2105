"""Defect cases: small edits to the test site, each with the problems it must produce.

A case is a folder under `tests/fixtures/defects/<case>/` holding

- `content/`: files added to (or replacing files of) a copy of `tests/fixtures/site/content`,
- `remove.txt` (optional): content-relative paths deleted from the copy first, one per line,
- `expected.yml`: the problems `cms validate` must report, each
  `{file, line, rule}` plus `column`, `field` or `severity` where the case is about them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from cms.cli import main
from tests.conftest import FIXTURES, SITE, make_repo

DEFECTS = FIXTURES / "defects"
CASES = sorted(path.name for path in DEFECTS.iterdir() if path.is_dir())

VALUE_RULES = {
    "schema", "unknown-field", "required", "reference", "reference-deleted", "slug", "naming", "encoding",
    "frontmatter-missing", "frontmatter-unclosed", "frontmatter-format", "missing-parent", "duplicate-order",
    "duplicate-slug", "duplicate-public-id", "prerequisite-cycle", "broken-link", "type-requirement",
    "quiz-answer", "video-times", "image-alt", "media-duration", "symlink",
}
"""Rules about a value: their problems must say what was expected."""

KEYS = ("file", "line", "rule", "column", "field", "severity")


def expected_problems(case: str) -> list[dict[str, Any]]:
    expected = yaml.safe_load((DEFECTS / case / "expected.yml").read_text(encoding="utf-8"))
    assert isinstance(expected, list) and expected, f"{case}: expected.yml must list at least one problem"
    for item in expected:
        assert {"file", "line", "rule"} <= item.keys() <= set(KEYS), f"{case}: bad entry {item}"
    return expected


def build_tree(root: Path, *cases: str) -> Path:
    """A git repository at `root` holding the test site with `cases` applied; returns its content dir."""
    content = root / "content"
    shutil.copytree(SITE / "content", content, symlinks=True)
    for case in cases:
        remove = DEFECTS / case / "remove.txt"
        if remove.is_file():
            for line in remove.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    (content / line.strip()).unlink()
        overlay = DEFECTS / case / "content"
        if overlay.is_dir():  # a case that only removes files has no overlay (git keeps no empty folders)
            shutil.copytree(overlay, content, symlinks=True, dirs_exist_ok=True)
    make_repo(root)
    return content


def run_validate(content: Path, output: str = "json") -> Result:
    return CliRunner().invoke(main, ["validate", str(content), "--format", output], catch_exceptions=False)


def validate_json(content: Path) -> tuple[int, dict[str, Any]]:
    result = run_validate(content)
    return result.exit_code, json.loads(result.stdout)


def unmatched(expected: list[dict[str, Any]], reported: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """Expected problems not reported, and reported problems not expected (one to one)."""
    left = list(reported)
    missing = []
    for want in expected:
        match = next((got for got in left if _matches(want, got)), None)
        if match is None:
            missing.append(want)
        else:
            left.remove(match)
    return missing, left


def _matches(want: dict[str, Any], got: dict[str, Any]) -> bool:
    return all(got.get(key) == value for key, value in want.items())
