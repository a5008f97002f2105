"""`cms validate` follows renames git saw: a link to a renamed file's old path is a warning, not a broken link.

The test site's cheat sheet links `../01-basics/01-why-test.md#regressions`.
Each test renames that lesson the way an author does (`git mv`, commit) and
runs the real `cms validate` (and the indexer, which runs the same checks).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from cms.content.corpus import ContentTree
from cms.index.build import update
from cms.index.sqlite import database_path
from tests.conftest import git
from tests.defects import run_validate, validate_json

BASICS = "content/courses/intro-to-testing/01-basics"
CHEAT_SHEET = "content/courses/intro-to-testing/02-practice/01-cheat-sheet.md"
LINK = "../01-basics/01-why-test.md#regressions"


def rename(site: Path, old: str, new: str) -> None:
    git(site, "mv", old, new)
    git(site, "commit", "--quiet", "--message", f"Rename {old}")


def link_problems(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in report["problems"] if p["rule"] in ("renamed-link", "broken-link")]


def test_a_link_to_a_renamed_lesson_is_a_warning(site: Path) -> None:
    rename(site, f"{BASICS}/01-why-test.md", f"{BASICS}/01-why-we-test.md")
    status, report = validate_json(site / "content")
    assert status == 0, report
    [problem] = link_problems(report)
    assert problem["file"] == CHEAT_SHEET and problem["line"] == 6
    assert problem["severity"] == "warning"
    assert problem["message"] == (
        f"link {LINK!r} points to {BASICS}/01-why-test.md, which git saw renamed to {BASICS}/01-why-we-test.md: "
        "the old address redirects, but link to '../01-basics/01-why-we-test.md#regressions'")
    assert problem["expected"] == "../01-basics/01-why-we-test.md#regressions"
    assert problem["found"] == LINK


def test_the_warning_in_text_output(site: Path) -> None:
    rename(site, f"{BASICS}/01-why-test.md", f"{BASICS}/01-why-we-test.md")
    result = run_validate(site / "content", "text")
    assert result.exit_code == 0
    assert "renamed-link" in result.stdout and "which git saw renamed to" in result.stdout


def test_a_renumbered_lesson_is_followed_too(site: Path) -> None:
    """Its public path did not change, so nothing redirects, but the link names a file that moved."""
    rename(site, f"{BASICS}/01-why-test.md", f"{BASICS}/03-why-test.md")
    status, report = validate_json(site / "content")
    assert status == 0
    [problem] = link_problems(report)
    assert (problem["rule"], problem["expected"]) == ("renamed-link", "../01-basics/03-why-test.md#regressions")


def test_a_chain_of_renames_names_the_file_now(site: Path) -> None:
    rename(site, f"{BASICS}/01-why-test.md", f"{BASICS}/01-why-tests.md")
    rename(site, "content/courses/intro-to-testing/01-basics", "content/courses/intro-to-testing/03-basics")
    status, report = validate_json(site / "content")
    assert status == 0
    [problem] = link_problems(report)
    assert problem["expected"] == "../03-basics/01-why-tests.md#regressions"


def test_a_rename_git_has_not_seen_is_a_broken_link(site: Path) -> None:
    """Moved in the working tree, not committed: git knows of no rename, so the link is broken."""
    (site / BASICS / "01-why-test.md").rename(site / BASICS / "01-why-we-test.md")
    status, report = validate_json(site / "content")
    assert status == 1
    [problem] = link_problems(report)
    assert (problem["rule"], problem["severity"]) == ("broken-link", "error")


def test_a_renamed_then_deleted_lesson_is_a_broken_link(site: Path) -> None:
    rename(site, f"{BASICS}/01-why-test.md", f"{BASICS}/01-why-we-test.md")
    git(site, "rm", "--quiet", f"{BASICS}/01-why-we-test.md")
    git(site, "commit", "--quiet", "--message", "Delete")
    status, report = validate_json(site / "content")
    assert status == 1
    assert [p["rule"] for p in link_problems(report)] == ["broken-link"]


def test_a_link_to_a_path_that_never_existed_is_still_broken(site: Path) -> None:
    rename(site, f"{BASICS}/01-why-test.md", f"{BASICS}/01-why-we-test.md")
    page = site / CHEAT_SHEET
    page.write_text(page.read_text() + "\nAnd [nothing](../01-basics/09-nothing.md).\n")
    status, report = validate_json(site / "content")
    assert status == 1
    assert sorted(p["rule"] for p in link_problems(report)) == ["broken-link", "renamed-link"]


def test_outside_git_there_is_nothing_to_follow(tmp_path: Path, site: Path) -> None:
    plain = tmp_path / "plain"
    (site / ".git").rename(tmp_path / "git-elsewhere")
    site.rename(plain)
    status, report = validate_json(plain / "content")
    assert status == 0 and link_problems(report) == []


def test_the_indexer_reports_the_same_warning(site: Path) -> None:
    rename(site, f"{BASICS}/01-why-test.md", f"{BASICS}/01-why-we-test.md")
    tree = ContentTree.locate(site / "content")
    report = update(tree, database_path(tree, None))
    assert [(p.rule, p.severity) for p in report.problems] == [("renamed-link", "warning")]
    with sqlite3.connect(database_path(tree, None)) as conn:
        assert conn.execute("SELECT rule, severity FROM problems").fetchall() == [("renamed-link", "warning")]
        html = conn.execute("SELECT html FROM lessons WHERE slug = 'cheat-sheet'").fetchone()[0]
    assert 'href="/courses/intro-to-testing/lessons/why-test#h-regressions"' in html  # the old path: it redirects
