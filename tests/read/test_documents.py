"""Stored documents: byte for byte what shaping the rows gives, across the test site and after edits.

Each edit is committed and indexed twice: first without the materialising
step, which shows exactly which documents the change made stale (deleted,
never left behind), then with it, after which every stored document must
equal the API's encoding of the shaped entry, and every public entry must
have one. Every test runs on a SQLite index and on a Postgres one (plpgsql triggers there); one more
checks that the two store byte-identical documents, for the test site and after every edit.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from api.schemas import CourseDetail, CourseSummary, LessonDetail, to_wire
from cms.content.corpus import ContentTree
from cms.database import PostgresUrl
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.read import queries, views
from cms.read.connection import reading
from cms.read.documents import materialise, strong_etag
from tests.api_server import BACKENDS
from tests.conftest import git

INTRO = "course/intro-to-testing"
INTRO_LESSONS = {f"{INTRO}/lesson/{slug}" for slug in ("why-test", "first-test", "cheat-sheet", "check-yourself")}
INTRO_ALL = {f"{INTRO}/detail", f"{INTRO}/summary", *INTRO_LESSONS}


Location = Path | PostgresUrl


@pytest.fixture(params=BACKENDS)
def at(request: pytest.FixtureRequest, site: Path) -> Location:
    """Where the test's index lives: the site's `.cms/index.db`, or a fresh Postgres database."""
    if request.param == "sqlite":
        return database_path(ContentTree.locate(site / "content"), None)
    return PostgresUrl(request.getfixturevalue("postgres_database"), "CMS_DATABASE_URL")


def _index(site: Path, at: Location, *, store: bool = True) -> Location:
    update(ContentTree.locate(site / "content"), at, materialise=materialise if store else None)
    return at


def _stored(db: Location) -> dict[str, tuple[bytes, str]]:
    with reading(db) as conn:
        return {row["key"]: (row["body"], row["etag"]) for row in conn.execute("SELECT * FROM documents")}


def _as_api(shape: Any, struct: type) -> bytes:
    """What the API answered before documents: the shaped entry converted to its wire Struct and encoded."""
    return msgspec.json.encode(to_wire(shape, struct))


def _expected(conn: sqlite3.Connection) -> dict[str, bytes]:
    """Every public entry's document, shaped from the rows now."""
    expected: dict[str, bytes] = {}
    for course in queries.list_courses(conn, queries.CourseFilters(), "title", 1, 100)[0]:
        slug = course["slug"]
        expected[f"course/{slug}/summary"] = _as_api(views.course_summaries(conn, [course])[0], CourseSummary)
        expected[f"course/{slug}/detail"] = _as_api(views.course_detail(conn, slug), CourseDetail)
        for lesson in views.lessons(conn, slug, None):
            key = f"course/{slug}/lesson/{lesson['slug']}"
            expected[key] = _as_api(views.lesson_detail(conn, slug, lesson["slug"]), LessonDetail)
    return expected


def _assert_current(db: Location, left_to_shape: frozenset[str] = frozenset()) -> dict[str, tuple[bytes, str]]:
    stored = _stored(db)
    with reading(db) as conn:
        expected = _expected(conn)
    assert set(stored) == set(expected) - left_to_shape
    for key, (body, etag) in stored.items():
        assert body == expected[key], key
        assert etag == strong_etag(body)
    return stored


def _edit(site: Path, path: str, change: Callable[[str], str]) -> None:
    file = site / "content" / path
    file.write_text(change(file.read_text()))
    git(site, "commit", "--quiet", "--all", "--message", f"Edit {path}")


def test_every_public_entry_is_stored_as_the_api_answers_it(site: Path, at: Location) -> None:
    stored = _assert_current(_index(site, at))
    assert set(stored) == INTRO_ALL, "drafts and the draft course's lessons are not stored"


def test_a_run_without_the_step_stores_nothing_and_the_next_fills_the_holes(site: Path, at: Location) -> None:
    db = _index(site, at, store=False)
    assert _stored(db) == {}
    assert set(_assert_current(_index(site, at))) == INTRO_ALL, "a run with nothing changed still fills the holes"


EDITS: list[tuple[str, str, Callable[[str], str], set[str]]] = [
    ("a section's title: its course, and every lesson (they embed their section)",
     "courses/intro-to-testing/01-basics/section.md", lambda t: t.replace("title: Basics", "title: Fundamentals"),
     INTRO_ALL),
    ("a lesson's title: it, its course's outline, and its neighbours (prev/next)",
     "courses/intro-to-testing/01-basics/02-first-test.md",
     lambda t: t.replace("title: Your first test", "title: A first test"),
     {f"{INTRO}/detail", f"{INTRO}/lesson/first-test", f"{INTRO}/lesson/why-test", f"{INTRO}/lesson/cheat-sheet"}),
    ("a lesson's body: it and its course's outline (reading time)",
     "courses/intro-to-testing/02-practice/01-cheat-sheet.md", lambda t: t + "\nOne more line.\n",
     {f"{INTRO}/detail", f"{INTRO}/lesson/cheat-sheet"}),
    ("the instructor's name: the course's detail and summary",
     "authors/grace-tester.md", lambda t: t.replace("name: Grace Tester", "name: Grace T. Tester"),
     {f"{INTRO}/detail", f"{INTRO}/summary"}),
    ("the instructor's avatar record: the course's detail and summary",
     "media/grace-avatar.yml", lambda t: t.replace("alt: Portrait of Grace", "alt: Grace, smiling"),
     {f"{INTRO}/detail", f"{INTRO}/summary"}),
    ("a video's media record: the lesson showing it",
     "media/demo-video.yml", lambda t: t.replace("duration_ms: 95000", "duration_ms: 96000"),
     {f"{INTRO}/lesson/first-test"}),
    ("the categories: the courses in one",
     "categories.yml", lambda t: t.replace("name: Testing", "name: Software testing"),
     {f"{INTRO}/detail", f"{INTRO}/summary"}),
    ("a project: nothing", "projects/test-dashboard.md", lambda t: t + "\nMore.\n", set()),
]


@pytest.mark.parametrize(("what", "path", "change", "stale"), EDITS, ids=[edit[0] for edit in EDITS])
def test_an_edit_deletes_exactly_the_documents_it_makes_stale(site: Path, at: Location, what: str, path: str,
                                                              change: Callable[[str], str], stale: set[str]) -> None:
    before = _assert_current(_index(site, at))
    _edit(site, path, change)
    kept = _stored(_index(site, at, store=False))
    assert set(before) - set(kept) == stale, what
    assert all(kept[key] == before[key] for key in kept)
    after = _assert_current(_index(site, at))
    changed = {key for key in after if after[key] != before[key]}
    assert changed <= stale and (changed or not stale), "what was deleted was made again, changed"


def test_renaming_a_section_changes_its_lessons_bodies(site: Path, at: Location) -> None:
    _index(site, at)
    _edit(site, "courses/intro-to-testing/01-basics/section.md", lambda t: t.replace("Basics", "Fundamentals"))
    stored = _assert_current(_index(site, at))
    lesson = msgspec.json.decode(stored[f"{INTRO}/lesson/why-test"][0])
    assert lesson["section"] == {"slug": "basics", "title": "Fundamentals", "order": 1}


def test_a_course_is_restored_when_a_course_it_names_changes(site: Path, at: Location) -> None:
    _edit(site, "courses/advanced-testing/course.md", lambda t: t.replace("status: draft", "status: published"))
    _edit(site, "courses/advanced-testing/01-mocking/01-fakes.md", lambda t: t.replace("status: draft\n", ""))
    before = _assert_current(_index(site, at))
    assert "course/advanced-testing/lesson/fakes" in before
    _edit(site, "courses/intro-to-testing/course.md", lambda t: t.replace("title: Intro to Testing", "title: Intro"))
    kept = _stored(_index(site, at, store=False))
    assert "course/advanced-testing/detail" not in kept, "its prerequisites name the renamed course"
    assert "course/advanced-testing/summary" in kept and "course/advanced-testing/lesson/fakes" in kept
    after = _assert_current(_index(site, at))
    renamed = b'"prerequisites":[{"slug":"intro-to-testing","title":"Intro"}]'
    assert renamed in after["course/advanced-testing/detail"][0]


def test_a_course_naming_a_scheduled_prerequisite_is_left_to_shape(site: Path, at: Location) -> None:
    soon = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _edit(site, "courses/advanced-testing/course.md",
          lambda t: t.replace("status: draft", f"status: published\npublish_at: {soon}")
                     .replace("prerequisites: [intro-to-testing]", "prerequisites: []"))
    _edit(site, "courses/intro-to-testing/course.md",
          lambda t: t.replace("image:", "prerequisites: [advanced-testing]\nimage:"))
    stored = _assert_current(_index(site, at), left_to_shape=frozenset({f"{INTRO}/detail"}))
    assert f"{INTRO}/summary" in stored and not any(key.startswith("course/advanced-testing") for key in stored)


def test_a_full_rebuild_stores_the_same_documents(site: Path, at: Location) -> None:
    before = _assert_current(_index(site, at))
    update(ContentTree.locate(site / "content"), at, full=True, materialise=materialise)
    assert _stored(at) == before


def test_cms_index_stores_the_documents_of_what_it_indexed(site: Path, at: Location) -> None:
    cms = Path(sys.executable).parent / "cms"
    env = {**os.environ, "CMS_DATABASE_URL": at.url} if isinstance(at, PostgresUrl) else None
    subprocess.run([str(cms), "index", "--quiet", str(site / "content")], check=True, timeout=120, env=env)
    assert set(_assert_current(at)) == INTRO_ALL
    _edit(site, "courses/intro-to-testing/01-basics/section.md", lambda t: t.replace("Basics", "Fundamentals"))
    subprocess.run([str(cms), "index", "--quiet", str(site / "content")], check=True, timeout=120, env=env)
    assert b'"title":"Fundamentals"' in _assert_current(at)[f"{INTRO}/lesson/why-test"][0]


def test_postgres_stores_the_same_bytes_as_sqlite(site: Path, postgres_database: str) -> None:
    """The test site, then each edit in turn: both indexes hold the same documents, byte for byte."""
    both: tuple[Location, Location] = (database_path(ContentTree.locate(site / "content"), None),
                                       PostgresUrl(postgres_database, "CMS_DATABASE_URL"))
    for _, path, change, _ in [(None, None, None, None), *EDITS]:
        if path is not None and change is not None:
            _edit(site, path, change)
        on_sqlite, on_postgres = (_stored(_index(site, where)) for where in both)
        assert on_sqlite and on_postgres == on_sqlite, path
