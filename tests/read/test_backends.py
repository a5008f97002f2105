"""The read side answers the same from a SQLite index and from a Postgres one.

The fixture site is indexed into both; every read (`cms.read` views, listings with each filter and
sort, the public documents, search, redirects, health figures) runs on a SQLite read-only connection
and on a `PostgresReader`, and the answers are compared whole: the same items, order, totals and
shapes. Search hits are compared as entries and totals, and in order where the two engines' ranks
cannot differ (one hit); snippets differ by engine (FTS5 `snippet` vs `ts_headline`): both mark
words, or neither does.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from argon2 import PasswordHasher
from litestar.testing import TestClient

from cms.accounts import users
from cms.content.corpus import ContentTree
from cms.database import PostgresUrl
from cms.errors import ConfigError, NotFound
from cms.index.build import update
from cms.read import connection, documents, queries, redirects, search, views
from cms.read.health import index_stats
from cms.read.postgres import LivePostgresIndex, PostgresReader, tsquery
from cms.settings import Settings
from tests.admin_api import ORIGIN, PEOPLE, SECRET, AdminSite, build_template, create_people, login
from tests.api.test_api_writes import test_conditional_writes_need_the_current_version as conditional_writes
from tests.api_server import BASE, build_site, cms_index, running_server
from tests.conftest import started_app
from tests.index.test_index import WHY_TEST, make_dated_repo, replace

pytestmark = pytest.mark.usefixtures("postgres_server")
Read = Callable[[Any], Any]
INTRO = "intro-to-testing"


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[tuple[Any, Any]]:
    """A read-only connection to the fixture site's index on SQLite and one on Postgres."""
    site = make_dated_repo(tmp_path_factory.mktemp("backends") / "site")
    tree = ContentTree.locate(site / "content")
    update(tree, site / "index.db", workers=1)
    name = postgres_server.create_database("backends")
    url = PostgresUrl(name, "CMS_DATABASE_URL")
    update(tree, url, workers=1)
    sqlite_conn, reader = connection.connect(site / "index.db"), PostgresReader(url)
    yield sqlite_conn, reader
    sqlite_conn.close()
    reader.close()
    postgres_server.drop_database("backends")


def _answer(read: Read, conn: Any) -> Any:
    try:
        return read(conn)
    except NotFound as error:
        return ("not found", str(error))


CF, PF, MF = queries.CourseFilters, queries.ProjectFilters, queries.MediaFilters
READS: dict[str, Read] = {
    "course list": lambda c: queries.list_courses(c, CF(), "title", 1, 20),
    "course list, hidden": lambda c: queries.list_courses(c, CF(), "-updated_at", 1, 20, hidden=True),
    "course list by price": lambda c: queries.list_courses(c, CF(), "-price", 1, 1),
    "course list, tag": lambda c: queries.list_courses(c, CF(tag="testing"), "title", 1, 20),
    "course list, level and price": lambda c: queries.list_courses(
        c, CF(difficulty_level="beginner", min_price=0, max_price=100), "price", 1, 20),
    "course list, q": lambda c: queries.list_courses(c, CF(q="test"), "title", 1, 20),
    "course list, q of nothing": lambda c: queries.list_courses(c, CF(q="!!"), "title", 1, 20),
    "course page": lambda c: documents.course_page(c, CF(), "title", 1, 20),
    "course page, hidden": lambda c: documents.course_page(c, CF(), "title", 1, 20, hidden=True),
    "course document": lambda c: documents.course(c, INTRO),
    "lesson document": lambda c: documents.lesson(c, INTRO, "why-test"),
    "course detail": lambda c: views.course_detail(c, INTRO),
    "course detail, hidden": lambda c: views.course_detail(c, "advanced-testing", hidden=True),
    "a course not there": lambda c: views.course_detail(c, "no-such-course"),
    "sections": lambda c: views.sections(c, INTRO),
    "section detail": lambda c: views.section_detail(c, INTRO, "basics"),
    "lessons": lambda c: views.lessons(c, INTRO, None),
    "lessons of a section": lambda c: views.lessons(c, INTRO, "practice", hidden=True),
    "lesson detail": lambda c: views.lesson_detail(c, INTRO, "first-test"),
    "projects": lambda c: queries.list_projects(c, PF(), 1, 20),
    "projects, tech": lambda c: queries.list_projects(c, PF(tech="PYTHON"), 1, 20),
    "project detail": lambda c: views.project_detail(c, "test-dashboard"),
    "authors": lambda c: views.authors(c),
    "author detail": lambda c: views.author_detail(c, "grace-tester"),
    "paths": lambda c: views.paths(c),
    "path detail": lambda c: views.path_detail(c, "testing-path"),
    "categories": lambda c: views.categories(c, hidden=True),
    "media detail": lambda c: views.media_detail(c, "testing-cover"),
    "media list": lambda c: queries.list_media(c, MF(), 1, 20),
    "media list, q": lambda c: queries.list_media(c, MF(q="LOGO"), 1, 20),
    "media list, deleted": lambda c: queries.list_media(c, MF(deleted=True), 1, 20),
    "media references": lambda c: queries.media_references(c, "testing-cover"),
    "video references": lambda c: queries.media_references(c, "demo-video"),
    "courses by slugs": lambda c: queries.courses_by_slugs(c, ["advanced-testing", INTRO], hidden=True),
    "lesson outline": lambda c: queries.lesson_outline(c, INTRO),
    "redirects": lambda c: redirects.redirects_page(c, 1, 20),
    "figures": lambda c: {**index_stats(c), "built_at": "the two indexes were built seconds apart"},
}


@pytest.mark.parametrize("read", list(READS.values()), ids=list(READS))
def test_both_backends_answer_the_same(backends: tuple[sqlite3.Connection, PostgresReader], read: Read) -> None:
    on_sqlite, on_postgres = (_answer(read, conn) for conn in backends)
    assert on_postgres == on_sqlite


@pytest.mark.parametrize(("words", "kind", "course"), [
    ("test", None, None), ("testing", None, None), ("why", "lesson", None), ("fakes", None, None),
    ("test", "lesson", INTRO), ("users do", None, None), ("nothing-matches-this", None, None), ("the", None, None),
])
def test_search_finds_the_same_entries(backends: tuple[sqlite3.Connection, PostgresReader], words: str,
                                       kind: str | None, course: str | None) -> None:
    (lite, lite_total), (pg, pg_total) = (search.search(conn, words, kind, course, 1, 20) for conn in backends)
    assert pg_total == lite_total
    assert sorted((hit["kind"], hit["slug"]) for hit in pg) == sorted((hit["kind"], hit["slug"]) for hit in lite)
    if len(lite) == 1:
        assert [hit["path"] for hit in pg] == [hit["path"] for hit in lite]
    assert all(hit["score"] > 0 for hit in pg)
    assert any("<mark>" in hit["snippet"] for hit in pg) == any("<mark>" in hit["snippet"] for hit in lite)


def test_search_words_become_a_tsquery_that_cannot_carry_operators() -> None:
    assert tsquery('"users" "do"*') == "'users' & 'do':*"
    assert tsquery('"it""s" "a\\\'b"*') == "'it\"s' & 'a\\\\''b':*"
    assert tsquery('""') == ""


def test_a_worker_sees_another_runs_index_within_two_seconds(tmp_path: Path, postgres_database: str) -> None:
    site = make_dated_repo(tmp_path / "site")
    tree, url = ContentTree.locate(site / "content"), PostgresUrl(postgres_database, "CMS_DATABASE_URL")
    update(tree, url, workers=1)
    live = LivePostgresIndex(url)
    try:
        first = live.version()
        assert update(tree, url, workers=1).read == 0
        time.sleep(LivePostgresIndex.FOLLOW_SECONDS)
        assert live.version() == first, "a run with nothing to do changed the version"
        replace(site, WHY_TEST, "title: Why test", "title: Why we test")
        update(tree, url, workers=1)
        changed = time.monotonic()
        while live.version() == first:
            assert time.monotonic() - changed < 2, "the worker still holds the old index after 2 s"
            time.sleep(0.01)
        assert views.lesson_detail(live.conn, INTRO, "why-test")["title"] == "Why we test"
    finally:
        live.close()


def test_a_reader_names_the_variable_when_it_cannot_connect() -> None:
    with pytest.raises(ConfigError, match=r"^CMS_DATABASE_URL=postgresql://cms:\*\*\*@127\.0\.0\.1:1/cms: cannot "
                                          r"connect: Connection refused"):
        PostgresReader(PostgresUrl("postgresql://cms:secret@127.0.0.1:1/cms", "CMS_DATABASE_URL"))


SERVED = ["/courses", "/courses?sort=-updated_at", "/courses?sort=price&page_size=2&page=2", "/courses?q=testing",
          "/courses?tag=testing", "/courses/intro-to-testing", "/courses/intro-to-testing/sections",
          "/courses/intro-to-testing/lessons", "/courses/intro-to-testing/lessons/why-test",
          "/courses/future-launch", "/courses/no-such-course", "/courses/intro-to-testing/lessons/nope",
          "/projects", "/projects/test-dashboard", "/authors", "/authors/grace-tester", "/paths", "/categories",
          "/search?q=test", "/search?q=testing&kind=lesson", "/search?q=zanzibarsecret", "/search?q=",
          "/courses?page=0", "/courses/..%2F..%2Fetc", "/redirects", "/courses?ref=main"]


def test_cms_serve_answers_the_same_from_either_index(tmp_path: Path, postgres_database: str) -> None:
    """`cms serve` over the API site, once on its SQLite index and once with CMS_DATABASE_URL on Postgres."""
    site = build_site(tmp_path / "site")
    answers: list[dict[str, tuple[int, Any, str | None]]] = []
    for settings in ({}, {"CMS_DATABASE_URL": postgres_database}):
        with running_server(site, tmp_path, **settings) as served, \
                httpx.Client(base_url=served.base_url + BASE, timeout=30) as client:
            answers.append({path: _served(client.get(path)) for path in SERVED})
    on_sqlite, on_postgres = answers
    for path in SERVED:
        if path.startswith("/search?q=t"):  # same hits; order and snippets are the engine's own
            assert _hits(on_postgres[path]) == _hits(on_sqlite[path]), path
        else:
            assert on_postgres[path] == on_sqlite[path], path


def test_cms_serve_answers_stored_documents_from_the_postgres_index(tmp_path: Path, postgres_database: str) -> None:
    """An anonymous GET of a stored entry is the stored bytes and ETag (a planted body shows it is not shaped)."""
    site = build_site(tmp_path / "site")
    cms_index(site.content, CMS_DATABASE_URL=postgres_database)
    planted = b'{"planted":"in the documents table"}'
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        stored = conn.execute("SELECT count(*) FROM cms_index.documents").fetchone()
        conn.execute("UPDATE cms_index.documents SET body = %s, etag = '\"planted\"' WHERE key = %s",
                     [planted, "course/intro-to-testing/detail"])
    assert stored is not None and stored[0] > 0
    with running_server(site, tmp_path, CMS_DATABASE_URL=postgres_database) as served, \
            httpx.Client(base_url=served.base_url + BASE, timeout=30) as client:
        answer = client.get("/courses/intro-to-testing")
        assert (answer.status_code, answer.content, answer.headers["etag"]) == (200, planted, '"planted"')
        assert client.get("/courses/intro-to-testing", headers={"If-None-Match": '"planted"'}).status_code == 304
        lesson = client.get("/courses/intro-to-testing/lessons/why-test")
        assert lesson.status_code == 200 and lesson.json()["slug"] == "why-test"


def _served(response: httpx.Response) -> tuple[int, Any, str | None]:
    body = response.json() if response.headers.get("content-type", "").endswith("json") else response.text
    return response.status_code, body, response.headers.get("etag")


def _hits(answer: tuple[int, Any, str | None]) -> tuple[int, int, list[str]]:
    status, body, _ = answer
    return status, body["total"], sorted(hit["path"] for hit in body["items"])


def test_writes_through_the_api_land_in_the_postgres_index(tmp_path: Path, postgres_database: str) -> None:
    """The admin API on a Postgres index: conditional writes (428, 412, then a commit), seen by the next read."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        build_template(tmp_path)
        create_people(tmp_path / "state.db")
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(tmp_path / "site" / "content"), "CMS_SECRET_KEY": SECRET,
                                  "CMS_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}", "CMS_GIT_PUSH": "false",
                                  "CMS_RESPONSE_HOLD_SECONDS": "0", "CMS_DATABASE_URL": postgres_database})
    with TestClient(started_app(settings), base_url=ORIGIN) as client:
        site = AdminSite(repo=tmp_path / "site", bare=tmp_path / "remote.git", client=client,
                         tokens={person.username: login(client, person) for person in PEOPLE})
        conditional_writes(site)
        lesson = site.request("GET", "/courses/intro-to-testing/lessons/first-test")
        assert lesson.json()["version"] == site.blob("courses/intro-to-testing/01-basics/02-first-test.md"), lesson.text
