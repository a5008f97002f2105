"""The index on a real Postgres: the same rows as SQLite's, run for run, and one transaction per run.

Every scenario of `test_index.py` edits a temporary repository and runs the indexer incrementally on a
SQLite file and on a Postgres database side by side: after every step the two hold the same rows, table
by table. Search finds the same entries on both. A run that fails half-way leaves the previous index;
an index database made by a newer Coursebase is refused, an older one rebuilt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from cms.content.corpus import ContentTree
from cms.database import PostgresUrl
from cms.index import postgres, tables
from cms.index.build import IndexReport, update
from tests.index.test_index import SCENARIOS, Dump, Step, _order, dump, make_dated_repo

pytestmark = pytest.mark.usefixtures("postgres_server")


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
