"""The indexer on real git repositories: incremental runs answer exactly like full rebuilds.

Every scenario edits a temporary repository the way an author or git would,
runs `update()` incrementally on one index and a full rebuild on a fresh
one, and compares the two table by table. The crash tests kill a real
`update()` process mid-build and check the previous index still answers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cms.cli import main
from cms.content.corpus import ContentTree
from cms.errors import ConfigError
from cms.index import tables
from cms.index.build import IndexReport, update
from cms.index.sqlite import database_path
from tests.conftest import GIT_ENV, SITE, git, make_repo

Dump = dict[str, list[dict[str, Any]]]

ROOT = Path(__file__).parents[2]
BASICS = "content/courses/intro-to-testing/01-basics"
PRACTICE = "content/courses/intro-to-testing/02-practice"
WHY_TEST = f"{BASICS}/01-why-test.md"
FIRST_TEST = f"{BASICS}/02-first-test.md"
CHEAT_SHEET = f"{PRACTICE}/01-cheat-sheet.md"
CHECK_YOURSELF = f"{PRACTICE}/02-check-yourself.md"
INTRO_COURSE = "content/courses/intro-to-testing/course.md"
COVER = "content/media/testing-cover.yml"


# --------------------------------------------------------------------------- helpers


def index(repo: Path, db: Path, *, full: bool = False) -> IndexReport:
    return update(ContentTree.locate(repo / "content"), db, full=full, workers=1)


def read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def _order(row: dict[str, Any]) -> list[tuple[bool, str, str]]:
    return [(value is None, type(value).__name__, repr(value)) for value in row.values()]


def dump(db_path: Path) -> Dump:
    """Every table of the index but `meta`, as sorted rows, plus the FTS table's rows."""
    queries = {name: f"SELECT * FROM [{name}]" for name in tables.TABLES if name not in ("meta", "search_docs")}
    queries["search"] = ("SELECT d.kind, d.course, d.slug, d.path, s.title, s.body FROM search s "
                         "JOIN search_docs d ON d.id = s.rowid")
    conn = read_only(db_path)
    try:
        result: Dump = {}
        for name, sql in queries.items():
            cursor = conn.execute(sql)
            columns = [d[0] for d in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor]
            result[name] = sorted(rows, key=_order)
        return result
    finally:
        conn.close()


def assert_same_index(incremental: Path, rebuilt: Path) -> None:
    """The two indexes hold the same rows, compared table by table so a failure names the table."""
    left, right = dump(incremental), dump(rebuilt)
    assert left.keys() == right.keys()
    for table in left:
        assert left[table] == right[table], _difference(table, left[table], right[table])


def _difference(table: str, left: list[dict[str, Any]], right: list[dict[str, Any]]) -> str:
    """Which rows differ, showing only the columns that tell them apart."""
    only_left = [row for row in left if row not in right]
    only_right = [row for row in right if row not in left]
    if not (only_left and only_right):
        return f"table {table!r} differs: only the incremental index has {only_left}, the full rebuild {only_right}"
    columns = {key for row in only_left + only_right for key, value in row.items()
               if any(other.get(key) != value for other in only_left + only_right)}
    keep = columns | {"path"}
    shown = [{k: v for k, v in row.items() if k in keep} for row in only_left]
    wanted = [{k: v for k, v in row.items() if k in keep} for row in only_right]
    return f"table {table!r} differs: incremental has {shown}, full rebuild has {wanted}"


def scalar(db: Path, sql: str, *args: Any) -> Any:
    conn = read_only(db)
    try:
        row = conn.execute(sql, args).fetchone()
        return None if row is None else row[0]
    finally:
        conn.close()


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = read_only(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def commit(repo: Path, message: str, date: str = "2025-02-01T12:00:00+00:00") -> None:
    """Commit everything with the given author and committer date."""
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(repo), "add", "--all"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "--quiet", "--message", message], check=True, env=env)


def write(repo: Path, path: str, text: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def replace(repo: Path, path: str, old: str, new: str) -> None:
    text = (repo / path).read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    write(repo, path, text.replace(old, new))


def lesson(title: str, body: str = "A short lesson.", **fields: str) -> str:
    extra = "".join(f"{key}: {value}\n" for key, value in fields.items())
    return f"---\ntitle: {title}\n{extra}---\n{body}\n"


def set_mtime(repo: Path, path: str, seconds_from_now: float) -> None:
    moment = time.time() + seconds_from_now
    os.utime(repo / path, (moment, moment))


def make_dated_repo(path: Path, date: str = "2025-01-01T12:00:00+00:00") -> Path:
    """The test site in a new repository, committed at a fixed date well before any file's mtime."""
    shutil.copytree(SITE, path)
    git(path, "init", "--quiet", "--initial-branch=main")
    commit(path, "Initial content", date)
    return path


@pytest.fixture
def dated_site(tmp_path: Path) -> Path:
    return make_dated_repo(tmp_path / "site")


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Step:
    """One change to the repository and how many files git should report for it."""

    name: str
    change: Callable[[Path], None]
    read: int
    deleted: int = 0
    visible: bool = True
    """Whether the index changes at all (guards against comparing two unchanged indexes)."""


def _edit_body(repo: Path) -> None:
    replace(repo, WHY_TEST, "before users do", "before your users ever do")


def _edit_title(repo: Path) -> None:
    replace(repo, WHY_TEST, "title: Why test", "title: Why we test")
    commit(repo, "Retitle why-test", "2025-02-02T09:00:00+00:00")


def _add_lesson(repo: Path) -> None:
    write(repo, f"{PRACTICE}/03-recap.md", lesson("Recap", "Everything **again**, briefly."))
    commit(repo, "Add recap", "2025-02-03T09:00:00+00:00")


def _delete_lesson(repo: Path) -> None:
    git(repo, "rm", "--quiet", CHECK_YOURSELF)
    commit(repo, "Remove quiz", "2025-02-04T09:00:00+00:00")


def _rename_lesson(repo: Path) -> None:
    git(repo, "mv", CHEAT_SHEET, f"{PRACTICE}/01-printable-sheet.md")


def _rename_linked_lesson(repo: Path) -> None:
    """why-test links to 02-first-test.md: the rename breaks a file that is not re-read."""
    git(repo, "mv", FIRST_TEST, f"{BASICS}/02-writing-a-test.md")
    commit(repo, "Rename first-test", "2025-02-05T09:00:00+00:00")


def _fix_link(repo: Path) -> None:
    replace(repo, WHY_TEST, "(02-first-test.md)", "(02-writing-a-test.md)")


def _move_to_other_section(repo: Path) -> None:
    git(repo, "mv", CHECK_YOURSELF, f"{BASICS}/03-check-yourself.md")
    commit(repo, "Move the quiz", "2025-02-06T09:00:00+00:00")


def _delete_cover(repo: Path) -> None:
    (repo / COVER).unlink()


def _restore_cover(repo: Path) -> None:
    git(repo, "checkout", "--", COVER)


def _break_yaml(repo: Path) -> None:
    replace(repo, WHY_TEST, "title: Why test", "title: [Why test")


def _fix_yaml(repo: Path) -> None:
    replace(repo, WHY_TEST, "title: [Why test", "title: Why test")


def _break_section(repo: Path) -> None:
    replace(repo, f"{BASICS}/section.md", "title: Basics", "title: Basics: {")


def _fix_section(repo: Path) -> None:
    git(repo, "checkout", "--", f"{BASICS}/section.md")


def _working_tree_edits(repo: Path) -> None:
    _edit_body(repo)
    write(repo, f"{PRACTICE}/03-recap.md", lesson("Recap"))
    write(repo, "content/projects/side-project.md", "---\ntitle: Side project\n---\nA small thing.\n")
    write(repo, f"{BASICS}/.#01-why-test.md", "editor lock file")
    write(repo, f"{BASICS}/01-why-test.md~", "editor backup")


def _edit_untracked_again(repo: Path) -> None:
    write(repo, f"{PRACTICE}/03-recap.md", lesson("Recap, revised", "Now with more words in it."))
    set_mtime(repo, f"{PRACTICE}/03-recap.md", 120)


def _stage_everything(repo: Path) -> None:
    git(repo, "add", "--all")


def _commit_everything(repo: Path) -> None:
    commit(repo, "Commit the drafts", "2025-03-01T08:30:00+01:00")


def _make_branch(repo: Path) -> None:
    """A branch `other` with a retitled course, a lesson less and a project more; back on main after."""
    git(repo, "checkout", "--quiet", "-b", "other")
    replace(repo, INTRO_COURSE, "title: Intro to Testing", "title: Testing, Introduced")
    git(repo, "rm", "--quiet", CHEAT_SHEET)
    write(repo, "content/projects/branch-project.md", "---\ntitle: Branch project\n---\nOnly on this branch.\n")
    commit(repo, "Branch content", "2025-04-01T10:00:00+00:00")
    git(repo, "checkout", "--quiet", "main")


def _switch_to_branch(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "other")


def _back_to_main(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "main")


def _add_misplaced_file(repo: Path) -> None:
    write(repo, "content/courses/intro-to-testing/notes.md", "not where content lives\n")


def _remove_misplaced_file(repo: Path) -> None:
    (repo / "content/courses/intro-to-testing/notes.md").unlink()


def _draft_section(repo: Path) -> None:
    replace(repo, f"{PRACTICE}/section.md", "title: Practice", "title: Practice\nstatus: draft")


SCENARIOS: dict[str, list[Step]] = {
    "edit a lesson body": [Step("edit", _edit_body, read=1)],
    "edit front matter title": [Step("retitle and commit", _edit_title, read=1)],
    "add a lesson": [Step("add and commit", _add_lesson, read=1)],
    "delete a lesson": [Step("git rm and commit", _delete_lesson, read=0, deleted=1)],
    "rename a lesson file": [Step("git mv", _rename_lesson, read=1, deleted=1)],
    "rename a linked lesson": [Step("git mv and commit", _rename_linked_lesson, read=1, deleted=1),
                               Step("fix the link", _fix_link, read=1)],
    "move a lesson to another section": [Step("git mv and commit", _move_to_other_section, read=1, deleted=1)],
    "delete a referenced media record": [Step("delete", _delete_cover, read=0, deleted=1),
                                         Step("restore", _restore_cover, read=1)],
    "break and fix YAML": [Step("break", _break_yaml, read=1), Step("fix", _fix_yaml, read=1)],
    "break and fix a section": [Step("break", _break_section, read=1), Step("fix", _fix_section, read=1)],
    "working tree edits, then commit": [Step("edit and add untracked", _working_tree_edits, read=3),
                                        Step("edit the untracked file again", _edit_untracked_again, read=1),
                                        Step("stage", _stage_everything, read=0, visible=False),
                                        Step("commit", _commit_everything, read=0)],
    "branch switch and back": [Step("make a branch", _make_branch, read=0, visible=False),
                               Step("checkout other", _switch_to_branch, read=2, deleted=1),
                               Step("checkout main", _back_to_main, read=2, deleted=1)],
    "misplaced file": [Step("add", _add_misplaced_file, read=0), Step("remove", _remove_misplaced_file, read=0)],
    "draft a section": [Step("draft", _draft_section, read=1)],
}


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_incremental_update_equals_full_rebuild(dated_site: Path, tmp_path: Path, steps: list[Step]) -> None:
    db = tmp_path / "incremental.db"
    index(dated_site, db)
    for number, step in enumerate(steps):
        before = dump(db)
        step.change(dated_site)
        report = index(dated_site, db)
        rebuilt = tmp_path / f"full-{number}.db"
        index(dated_site, rebuilt, full=True)
        assert_same_index(db, rebuilt)
        assert (report.read, report.deleted) == (step.read, step.deleted), step.name
        assert not report.full
        assert (dump(db) != before) == step.visible, f"{step.name}: the index did not change as expected"


def test_a_run_with_nothing_changed_reads_nothing(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    first = index(site, db)
    assert first.full and first.read == first.files == 18
    again = index(site, db)
    assert (again.read, again.deleted, again.full, again.changed) == (0, 0, False, False)
    assert again.files == 18


def test_nothing_changed_still_reports_the_known_problems(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    _break_yaml(site)
    first = index(site, db)
    again = index(site, db)
    assert again.read == 0
    assert again.problems == first.problems
    assert any(p.file == WHY_TEST for p in again.problems)


# --------------------------------------------------------------------------- left out and reported


def test_a_file_that_fails_validation_is_left_out_and_reported(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    _break_yaml(site)
    report = index(site, db)
    assert {p.file for p in report.problems if p.is_error} == {WHY_TEST}
    assert report.skipped == 1
    lessons = {row[0] for row in rows(db, "SELECT slug FROM lessons")}
    assert lessons == {"first-test", "cheat-sheet", "check-yourself", "fakes"}
    assert scalar(db, "SELECT COUNT(*) FROM problems WHERE file = ?", WHY_TEST) >= 1
    assert scalar(db, "SELECT COUNT(*) FROM search_docs WHERE slug = 'why-test'") == 0
    assert scalar(db, "SELECT prev_slug FROM lessons WHERE slug = 'first-test'") is None


def test_an_invalid_course_takes_its_sections_and_lessons_with_it(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    index(site, db)
    _delete_cover(site)
    report = index(site, db)
    assert {p.file for p in report.problems if p.is_error} == {INTRO_COURSE, "content/projects/test-dashboard.md"}
    assert report.skipped == 1 + 2 + 4 + 1  # the course, its sections, its lessons; the project
    assert index(site, db).skipped == 8  # also when nothing changed since
    assert rows(db, "SELECT slug FROM courses") == [("advanced-testing",)]
    assert rows(db, "SELECT course FROM sections") == [("advanced-testing",)]
    assert rows(db, "SELECT slug FROM lessons") == [("fakes",)]
    assert scalar(db, "SELECT COUNT(*) FROM projects") == 0
    assert scalar(db, "SELECT COUNT(*) FROM authors") == 1
    assert scalar(db, "SELECT COUNT(*) FROM paths") == 1


# --------------------------------------------------------------------------- derived figures


def _lessons(db: Path) -> dict[str, tuple[Any, ...]]:
    sql = "SELECT slug, position, prev_slug, prev_title, next_slug, next_title FROM lessons"
    return {row[0]: row[1:] for row in rows(db, sql)}


def _totals(db: Path, table: str) -> dict[str, tuple[Any, ...]]:
    extra = "section_count, " if table == "courses" else ""
    sql = f"SELECT slug, {extra}lesson_count, video_count, video_seconds, duration_minutes FROM {table}"
    return {row[0]: row[1:] for row in rows(db, sql)}


def test_derived_figures_of_the_test_site(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    index(site, db)
    assert _lessons(db) == {
        "why-test": (1, None, None, "first-test", "Your first test"),
        "first-test": (2, "why-test", "Why test", "cheat-sheet", "Cheat sheet"),  # across sections
        "cheat-sheet": (3, "first-test", "Your first test", "check-yourself", "Check yourself"),
        "check-yourself": (4, "cheat-sheet", "Cheat sheet", None, None),
        "fakes": (1, None, None, None, None),  # a draft: no neighbours
    }
    # why-test: 5 minutes as written; first-test: 60 + 35 video seconds, 10 words → 1 minute to read;
    # cheat-sheet and check-yourself: 1 minute to read each.
    assert _totals(db, "sections") == {"basics": (2, 2, 95, 6), "practice": (2, 0, 0, 2), "mocking": (0, 0, 0, 0)}
    assert _totals(db, "courses") == {"intro-to-testing": (2, 4, 2, 95, 8), "advanced-testing": (1, 0, 0, 0, 0)}
    lesson_figures = "SELECT word_count, reading_time_minutes, video_count, video_seconds FROM lessons WHERE slug = ?"
    assert rows(db, lesson_figures, "why-test") == [(12, 1, 0, 0)]
    assert rows(db, lesson_figures, "first-test") == [(10, 1, 2, 95)]
    snippets = "SELECT position, start_time_seconds, end_time_seconds, duration_seconds, media FROM video_snippets"
    assert sorted(rows(db, snippets)) == [(0, 0, 60, 60, None), (1, 60, 95, 35, "demo-video")]


def test_prev_and_next_skip_draft_lessons_across_sections(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    index(site, db)
    replace(site, FIRST_TEST, "type: video", "type: video\nstatus: draft")
    index(site, db)
    lessons = _lessons(db)
    assert lessons["why-test"] == (1, None, None, "cheat-sheet", "Cheat sheet")
    assert lessons["cheat-sheet"] == (3, "why-test", "Why test", "check-yourself", "Check yourself")
    assert lessons["first-test"] == (2, None, None, None, None)
    assert _totals(db, "sections")["basics"] == (1, 0, 0, 5)
    assert _totals(db, "courses")["intro-to-testing"] == (2, 3, 0, 0, 7)


def test_a_draft_section_leaves_the_course_totals_and_the_reading_order(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    index(site, db)
    _draft_section(site)
    index(site, db)
    assert _lessons(db)["first-test"] == (2, "why-test", "Why test", None, None)
    assert _lessons(db)["cheat-sheet"][1:] == (None, None, None, None)
    assert _totals(db, "courses")["intro-to-testing"] == (1, 2, 2, 95, 6)


def test_retitling_a_lesson_updates_its_neighbours(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    index(site, db)
    _edit_title(site)
    report = index(site, db)
    assert report.read == 1
    assert _lessons(db)["first-test"][1:3] == ("why-test", "Why we test")


# --------------------------------------------------------------------------- dates from git


def test_created_and_updated_come_from_the_first_and_last_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(SITE, repo)
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, "First", "2024-03-01T10:00:00+02:00")
    db = tmp_path / "index.db"
    index(repo, db)
    replace(repo, WHY_TEST, "before users do", "before users notice")
    commit(repo, "Second", "2024-05-06T12:30:00-04:00")
    report = index(repo, db)
    assert report.read == 1
    dates = "SELECT created_at, updated_at FROM lessons WHERE slug = ?"
    assert rows(db, dates, "why-test") == [("2024-03-01T08:00:00Z", "2024-05-06T16:30:00Z")]
    assert rows(db, dates, "first-test") == [("2024-03-01T08:00:00Z", "2024-03-01T08:00:00Z")]
    rebuilt = tmp_path / "rebuilt.db"
    index(repo, rebuilt, full=True)
    assert_same_index(db, rebuilt)


def test_uncommitted_files_are_dated_by_their_last_write(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    index(site, db)
    path = f"{PRACTICE}/03-recap.md"
    write(site, path, lesson("Recap"))
    os.utime(site / path, (1_700_000_000, 1_700_000_000))
    index(site, db)
    dates = "SELECT created_at, updated_at FROM lessons WHERE slug = 'recap'"
    assert rows(db, dates) == [("2023-11-14T22:13:20Z", "2023-11-14T22:13:20Z")]
    write(site, path, lesson("Recap", "Saved again."))
    os.utime(site / path, (1_700_000_600, 1_700_000_600))
    index(site, db)
    assert rows(db, dates)[0][1] == "2023-11-14T22:23:20Z"


def test_a_repository_without_commits_is_indexed_and_dated_once_committed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(SITE, repo)
    git(repo, "init", "--quiet", "--initial-branch=main")
    db = tmp_path / "index.db"
    report = index(repo, db)
    assert (report.commit, report.read, report.problems) == (None, 18, [])
    assert index(repo, db).read == 0
    commit(repo, "First", "2024-03-01T10:00:00+00:00")
    report = index(repo, db)
    assert report.read == 0 and report.commit == git(repo, "rev-parse", "HEAD")
    assert rows(db, "SELECT DISTINCT created_at, updated_at FROM lessons") == [("2024-03-01T10:00:00Z",) * 2]
    rebuilt = tmp_path / "rebuilt.db"
    index(repo, rebuilt, full=True)
    assert_same_index(db, rebuilt)


# --------------------------------------------------------------------------- search


HITS = "FROM search JOIN search_docs d ON d.id = search.rowid"


def test_search_finds_a_word_from_a_lesson_body(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    index(site, db)
    found = rows(db, f"SELECT d.kind, d.course, d.slug {HITS} WHERE search MATCH ? ORDER BY rank", "catches")
    assert found == [("lesson", "intro-to-testing", "why-test")]
    assert rows(db, f"SELECT d.slug {HITS} WHERE search MATCH 'flaky'") == [("test-dashboard",)]
    _edit_body(site)
    index(site, db)
    assert rows(db, f"SELECT d.slug {HITS} WHERE search MATCH 'ever'") == [("why-test",)]


# --------------------------------------------------------------------------- schema version


def test_an_index_from_an_older_schema_is_rebuilt(site: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    index(site, db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    conn.execute("ALTER TABLE lessons DROP COLUMN prev_title")
    conn.execute("DELETE FROM courses")
    conn.commit()
    conn.close()
    report = index(site, db)
    assert report.full and report.read == 18
    assert scalar(db, "SELECT value FROM meta WHERE key = 'schema_version'") == str(tables.SCHEMA_VERSION)
    rebuilt = tmp_path / "rebuilt.db"
    index(site, rebuilt, full=True)
    assert_same_index(db, rebuilt)


# --------------------------------------------------------------------------- where the index lives, the CLI


def test_the_index_lives_under_the_repository_root_by_default(site: Path) -> None:
    tree = ContentTree.locate(site / "content")
    assert database_path(tree, None) == site.resolve() / ".cms" / "index.db"
    assert database_path(tree, "sqlite:////var/tmp/x.db") == Path("/var/tmp/x.db")
    with pytest.raises(ConfigError, match="CMS_DATABASE_URL"):
        database_path(tree, "postgresql://localhost/cms")


def test_an_index_in_a_folder_of_content_hides_nothing_from_git(site: Path) -> None:
    """`CMS_DATABASE_URL=sqlite:///index.db` run from the repository root: the root must not become git-ignored."""
    db = site / "index.db"
    index(site, db)
    write(site, f"{PRACTICE}/03-recap.md", lesson("Recap"))
    assert index(site, db).read == 1
    assert scalar(db, "SELECT title FROM lessons WHERE slug = 'recap'") == "Recap"
    assert "03-recap.md" in git(site, "status", "--porcelain", "--untracked-files=all")


def test_the_default_index_folder_is_ignored_by_git(site: Path) -> None:
    index(site, database_path(ContentTree.locate(site / "content"), None))
    assert git(site, "status", "--porcelain", "--untracked-files=all") == ""


def test_cms_index_json(site: Path) -> None:
    result = CliRunner().invoke(main, ["index", "--json", str(site / "content")], catch_exceptions=False)
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["full"] is True and report["read"] == report["files"] == 18
    assert report["commit"] == git(site, "rev-parse", "HEAD") and report["problems"] == []
    assert (site / ".cms" / "index.db").is_file()
    again = json.loads(CliRunner().invoke(main, ["index", "--json", str(site / "content")]).stdout)
    assert (again["full"], again["read"], again["deleted"]) == (False, 0, 0)


def test_cms_index_quiet_prints_only_errors(site: Path) -> None:
    content = str(site / "content")
    quiet = CliRunner().invoke(main, ["index", "--quiet", content], catch_exceptions=False)
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    loud = CliRunner().invoke(main, ["index", content], catch_exceptions=False)
    assert loud.stdout.startswith("indexed 18 files (no changes): 0 read")
    _break_yaml(site)
    broken = CliRunner().invoke(main, ["index", "--quiet", content], catch_exceptions=False)
    assert broken.stdout == ""
    assert WHY_TEST in broken.stderr and "error" in broken.stderr


def test_cms_database_url_moves_the_index(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere" / "cms.db"
    monkeypatch.setenv("CMS_DATABASE_URL", f"sqlite:///{elsewhere}")
    result = CliRunner().invoke(main, ["index", "--quiet", str(site / "content")], catch_exceptions=False)
    assert result.exit_code == 0
    assert elsewhere.is_file() and not (site / ".cms").exists()
    assert scalar(elsewhere, "SELECT COUNT(*) FROM lessons") == 5


# --------------------------------------------------------------------------- crash safety

BULK_LESSONS = 1500
PARAGRAPH = "A test catches a regression before users do, and a fake server beats a patched function. " * 3
UPDATE_SCRIPT = """
import sys
from pathlib import Path
from cms.content.corpus import ContentTree
from cms.index.build import update
def progress(done, total):
    print(done, total, flush=True)
update(ContentTree.locate(Path(sys.argv[1])), Path(sys.argv[2]), full=sys.argv[3] == "full", progress=progress)
print("done", flush=True)
"""


@dataclass(frozen=True)
class Bulk:
    """A repository whose index is the small site, and whose content now has 1,500 more lessons."""

    repo: Path
    old_index: Path
    old_commit: str
    final: Dump


def _generate_lessons(content: Path, courses: int = 15, sections: int = 10, lessons: int = 10) -> None:
    for c in range(courses):
        course = content / "courses" / f"bulk-{c}"
        course.mkdir(parents=True)
        (course / "course.md").write_text(f"---\ntitle: Bulk {c}\nstatus: published\n---\nBulk course {c}.\n")
        for s in range(sections):
            section = course / f"{s + 1:02d}-part-{s}"
            section.mkdir()
            (section / "section.md").write_text(f"---\ntitle: Part {s}\n---\n")
            for n in range(lessons):
                body = f"## Step {n}\n\n{PARAGRAPH}\n\n- one\n- two\n\n```python\nprint({n})\n```"
                (section / f"{n + 1:02d}-lesson-{s}-{n}.md").write_text(lesson(f"Lesson {c}.{s}.{n}", body))


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Bulk:
    root = tmp_path_factory.mktemp("bulk")
    repo = make_repo(root / "repo", SITE)
    old_index = root / "old.db"
    index(repo, old_index)
    old_commit = git(repo, "rev-parse", "HEAD")
    _generate_lessons(repo / "content")
    commit(repo, "Many lessons", "2025-06-01T00:00:00+00:00")
    final = root / "final.db"
    update(ContentTree.locate(repo / "content"), final, full=True)
    assert scalar(final, "SELECT COUNT(*) FROM lessons") == 5 + BULK_LESSONS
    return Bulk(repo=repo, old_index=old_index, old_commit=old_commit, final=dump(final))


def _start_update(bulk: Bulk, db: Path, full: bool) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", UPDATE_SCRIPT, str(bulk.repo / "content"), str(db),
                             "full" if full else "incremental"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True, cwd=ROOT)


def _kill(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _lines_until(process: subprocess.Popen[str], fraction: float) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        done, total = line.split()
        if int(done) >= fraction * int(total):
            return
    pytest.fail("the update finished before it could be killed")


def _assert_old_index_answers(bulk: Bulk, db: Path) -> None:
    conn = read_only(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM lessons").fetchone() == (5,)
        assert conn.execute("SELECT COUNT(*) FROM courses").fetchone() == (2,)
        assert conn.execute("SELECT title FROM lessons WHERE slug = 'why-test'").fetchone() == ("Why test",)
        assert conn.execute("SELECT value FROM meta WHERE key = 'commit'").fetchone() == (bulk.old_commit,)
    finally:
        conn.close()


KILL_MOMENTS = {"as parsing starts": (None, 0.0), "half-way through parsing": (None, 0.5),
                "after parsing, while writing": (None, 1.0), "after 0.5 s": (0.5, None)}
"""When to kill the run: after a delay, or once it reports this fraction of files parsed (inside its transaction)."""


@pytest.mark.parametrize("delay, fraction", list(KILL_MOMENTS.values()), ids=list(KILL_MOMENTS))
def test_a_killed_update_leaves_the_old_index_answering(bulk: Bulk, tmp_path: Path, delay: float | None,
                                                         fraction: float | None) -> None:
    db = tmp_path / "index.db"
    shutil.copy(bulk.old_index, db)
    process = _start_update(bulk, db, full=False)
    try:
        if delay is not None:
            time.sleep(delay)
        else:
            _lines_until(process, fraction or 0)
        assert process.poll() is None, "the update finished before it could be killed"
    finally:
        _kill(process)
    assert process.stdout is not None
    assert "done" not in process.stdout.read(), "the update finished before it could be killed"
    _assert_old_index_answers(bulk, db)
    report = update(ContentTree.locate(bulk.repo / "content"), db)
    assert report.read == BULK_LESSONS + 15 * 11 and not report.full
    after = dump(db)
    for table, expected in bulk.final.items():
        assert after[table] == expected, _difference(table, after[table], expected)


def test_readers_never_see_a_partial_index(bulk: Bulk, tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    shutil.copy(bulk.old_index, db)
    conn = read_only(db)
    seen_while_running: set[int] = set()
    polls = 0
    process = _start_update(bulk, db, full=True)
    try:
        while process.poll() is None:
            seen_while_running.add(conn.execute("SELECT COUNT(*) FROM lessons").fetchone()[0])
            polls += 1
            time.sleep(0.005)  # leave the writer a CPU
        assert process.returncode == 0
        final = conn.execute("SELECT COUNT(*) FROM lessons").fetchone()[0]
    finally:
        if process.poll() is None:
            _kill(process)
        conn.close()
    assert final == 5 + BULK_LESSONS
    assert seen_while_running <= {5, final}, "a reader saw a half-built index"
    assert 5 in seen_while_running and polls > 10


def test_parsing_in_worker_processes_remembers_files_the_same_way(dated_site: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    replace(dated_site, INTRO_COURSE, "price: 0", "price: 0\ncurrency: USD")  # a default written out
    serial, parallel = tmp_path / "serial.db", tmp_path / "parallel.db"
    update(ContentTree.locate(dated_site / "content"), serial, workers=1)
    monkeypatch.setattr("cms.index.parsing.PARALLEL_THRESHOLD", 1)
    update(ContentTree.locate(dated_site / "content"), parallel, workers=2)
    assert_same_index(serial, parallel)
