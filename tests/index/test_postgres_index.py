"""The index on a real Postgres: the same rows as SQLite's, run for run, and one transaction per run.

Every scenario of `test_index.py` edits a temporary repository and runs the indexer incrementally on a
SQLite file and on a Postgres database side by side: after every step the two hold the same rows, table
by table. Search finds the same entries on both. A run that fails half-way leaves the previous index;
an index database made by a newer Coursebase is refused, an older one rebuilt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cms.content.corpus import ContentTree
from cms.database import PostgresUrl
from cms.index import postgres, tables
from cms.index.build import IndexReport, update
from cms.read.documents import materialise
from tests.index.test_index import SCENARIOS, WHY_TEST, Dump, Step, _order, dump, make_dated_repo, replace

pytestmark = pytest.mark.usefixtures("postgres_server")
CMS = Path(sys.executable).parent / "cms"


def pg_index(repo: Path, url: str, *, full: bool = False) -> IndexReport:
    return update(ContentTree.locate(repo / "content"), PostgresUrl(url, "CMS_DATABASE_URL"), full=full, workers=1)


def sqlite_index(repo: Path, db: Path) -> IndexReport:
    return update(ContentTree.locate(repo / "content"), db, workers=1)


def pg_rows(url: str, query: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        conn.execute(f"SET search_path = {postgres.SCHEMA}")
        return conn.execute(query, params).fetchall()


def pg_dump(url: str) -> Dump:
    """What `test_index.dump` gives for SQLite, from the Postgres index."""
    queries = {name: f"SELECT * FROM {name}" for name in tables.TABLES if name not in ("meta", "search_docs")}
    queries["search"] = ("SELECT d.kind, d.course, d.slug, d.path, s.title, s.body FROM search s "
                         "JOIN search_docs d ON d.id = s.rowid")
    return {name: sorted(pg_rows(url, query), key=_order) for name, query in queries.items()}


def assert_same_rows(sqlite_db: Path, url: str) -> None:
    left, right = dump(sqlite_db), pg_dump(url)
    assert left.keys() == right.keys()
    for table in left:
        assert left[table] == right[table], f"table {table!r} differs between SQLite and Postgres"


@pytest.fixture
def dated_site(tmp_path: Path) -> Path:
    return make_dated_repo(tmp_path / "site")


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_postgres_holds_the_rows_sqlite_holds_run_after_run(dated_site: Path, tmp_path: Path,
                                                            postgres_database: str, steps: list[Step]) -> None:
    db = tmp_path / "index.db"
    first = pg_index(dated_site, postgres_database)
    assert first.full and first.read == sqlite_index(dated_site, db).read
    assert_same_rows(db, postgres_database)
    for step in steps:
        step.change(dated_site)
        on_sqlite, on_postgres = sqlite_index(dated_site, db), pg_index(dated_site, postgres_database)
        assert (on_postgres.read, on_postgres.deleted) == (step.read, step.deleted), step.name
        assert (on_postgres.skipped, on_postgres.problems) == (on_sqlite.skipped, on_sqlite.problems), step.name
        assert not on_postgres.full
        assert_same_rows(db, postgres_database)


def _lessons(repo: Path, count: int) -> None:
    """`count` more lessons in a section of their own: a run long enough to be caught in the middle."""
    folder = repo / "content/courses/intro-to-testing/03-many"
    folder.mkdir()
    (folder / "section.md").write_text("---\ntitle: Many\n---\nLots of lessons.\n")
    for number in range(1, count + 1):
        (folder / f"{number:03d}-lesson-{number}.md").write_text(
            f"---\ntitle: Lesson {number}\n---\n" + "Some words about testing, again and again. " * 200 + "\n")


def _wait_for(check: Any, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def test_a_killed_run_leaves_the_previous_index_and_no_lock(dated_site: Path, postgres_database: str) -> None:
    pg_index(dated_site, postgres_database)
    before = pg_dump(postgres_database)
    _lessons(dated_site, 400)
    env = {**os.environ, "CMS_DATABASE_URL": postgres_database}
    indexer = subprocess.Popen([str(CMS), "index", str(dated_site / "content"), "--quiet"], env=env)
    try:
        copying = "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%'"
        _wait_for(lambda: indexer.poll() is not None or pg_rows(postgres_database, copying), "the run's first COPY")
        assert indexer.poll() is None, "the run ended before it could be killed"
        assert pg_dump(postgres_database) == before, "a reader saw a run's rows before its commit"
    finally:
        indexer.kill()
        indexer.wait(timeout=30)
    assert pg_dump(postgres_database) == before
    locked = "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    _wait_for(lambda: not pg_rows(postgres_database, locked), "the killed run's lock to go")
    report = pg_index(dated_site, postgres_database)
    assert report.read == 401 and not report.problems


def cms_index(repo: Path, url: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CMS), "index", str(repo / "content"), *options], capture_output=True, text=True,
                          env={**os.environ, "CMS_DATABASE_URL": url}, timeout=120)


def _migrations(url: str, query: str, params: Any = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query, params)


def test_an_index_made_by_a_newer_coursebase_is_refused_with_what_to_do(dated_site: Path,
                                                                        postgres_database: str) -> None:
    pg_index(dated_site, postgres_database)
    before = pg_dump(postgres_database)
    _migrations(postgres_database, "INSERT INTO schema_migrations (component, version, name, applied_at) "
                "VALUES ('index', %s, 'a later index', '2030-01-01T00:00:00Z')", [tables.SCHEMA_VERSION + 1])
    replace(dated_site, WHY_TEST, "before users do", "before your users ever do")
    refused = cms_index(dated_site, postgres_database)  # a process opens (and checks) the index database once
    assert refused.returncode == 2 and refused.stderr.startswith("Error: CMS_DATABASE_URL=postgresql://cms:***@")
    assert f"{tables.SCHEMA_VERSION + 1} 'a later index'" in refused.stderr and "newer Coursebase" in refused.stderr
    assert pg_dump(postgres_database) == before


def test_an_index_of_an_older_schema_is_rebuilt(dated_site: Path, tmp_path: Path, postgres_database: str) -> None:
    pg_index(dated_site, postgres_database)
    _migrations(postgres_database, "DELETE FROM schema_migrations WHERE component = 'index' AND version = %s",
                [tables.SCHEMA_VERSION])
    _migrations(postgres_database, f"INSERT INTO {postgres.SCHEMA}.lessons (course, slug) VALUES ('old', 'row')")
    report = json.loads(cms_index(dated_site, postgres_database, "--json").stdout)
    assert report["full"] and report["read"] == report["files"]
    # `cms index` stores the public documents: so does the SQLite index it is compared with
    update(ContentTree.locate(dated_site / "content"), tmp_path / "index.db", workers=1, materialise=materialise)
    assert_same_rows(tmp_path / "index.db", postgres_database)


@pytest.mark.parametrize(("url", "reason"), [
    ("postgresql://cms:nope@127.0.0.1:1/cms", "cannot connect: Connection refused"),
    ("mysql://cms:nope@127.0.0.1/cms", "is not a database URL Coursebase understands"),
])
def test_cms_index_names_the_variable_when_it_cannot_use_the_database(dated_site: Path, url: str,
                                                                      reason: str) -> None:
    done = subprocess.run([str(CMS), "index", str(dated_site / "content")], capture_output=True, text=True,
                          env={**os.environ, "CMS_DATABASE_URL": url}, timeout=60)
    assert done.returncode != 0
    assert "CMS_DATABASE_URL" in done.stderr and reason in done.stderr and "nope" not in done.stderr


def test_cms_index_names_the_variable_on_a_wrong_password(dated_site: Path, postgres_server: Any,
                                                          postgres_database: str) -> None:
    wrong = postgres_server.url(postgres_database.rsplit("/", 1)[1], password="not-the-password")
    done = subprocess.run([str(CMS), "index", str(dated_site / "content")], capture_output=True, text=True,
                          env={**os.environ, "CMS_DATABASE_URL": wrong}, timeout=60)
    assert done.returncode != 0
    assert 'CMS_DATABASE_URL=postgresql://cms:***@' in done.stderr
    assert 'password authentication failed for user "cms"' in done.stderr and "not-the-password" not in done.stderr


def test_long_values_are_compressed_with_lz4_and_read_back_whole(dated_site: Path, tmp_path: Path,
                                                                 postgres_database: str) -> None:
    """The test server has LZ4 (Debian's build), so a run uses it for HTML, Markdown and stored documents."""
    _lessons(dated_site, 3)
    assert cms_index(dated_site, postgres_database).returncode == 0
    lessons = pg_rows(postgres_database, "SELECT pg_column_compression(markdown) AS markdown, "
                      "pg_column_compression(html) AS html FROM lessons WHERE path LIKE '%/03-many/%'")
    assert lessons == [{"markdown": "lz4", "html": "lz4"}] * 3
    stored = pg_rows(postgres_database, "SELECT pg_column_compression(body) AS body FROM documents "
                     "WHERE key LIKE 'course/intro-to-testing/lesson/lesson-%'")
    assert stored == [{"body": "lz4"}] * 3
    update(ContentTree.locate(dated_site / "content"), tmp_path / "index.db", workers=1, materialise=materialise)
    assert_same_rows(tmp_path / "index.db", postgres_database)
