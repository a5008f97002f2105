"""Numbered migrations on both databases: applied once, in order, all or nothing; a newer database refused."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from cms.accounts import StateDB, UserStore
from cms.accounts.state import SCHEMA as STATE
from cms.database import Database, Migration, Schema, open_database, parse
from cms.errors import ConfigError
from tests.accounts.conftest import CHEAP

PAGES = Schema("pages", "the pages database", (
    Migration(1, "pages", ("CREATE TABLE pages (slug TEXT PRIMARY KEY)",)),
    Migration(2, "titles", ("ALTER TABLE pages ADD COLUMN title TEXT",)),
))


def opened(url: str, schema: Schema) -> Database:
    return open_database(parse("TEST_URL", url), schema)


def migrations(db: Database, component: str) -> list[tuple[int, str]]:
    rows = db.rows("SELECT version, name FROM schema_migrations WHERE component = :component ORDER BY version",
                   {"component": component})
    return [(row["version"], row["name"]) for row in rows]


def test_a_new_database_gets_every_migration_once(any_url: str) -> None:
    db = opened(any_url, PAGES)
    db.close()
    db = opened(any_url, PAGES)
    assert migrations(db, "pages") == [(1, "pages"), (2, "titles")]
    with db.write() as conn:
        conn.execute("INSERT INTO pages (slug, title) VALUES (:slug, :title)", {"slug": "a", "title": "A"})
    assert db.rows("SELECT slug, title FROM pages") == [{"slug": "a", "title": "A"}]
    db.close()


def test_an_older_database_is_upgraded_keeping_its_data(any_url: str) -> None:
    old = opened(any_url, Schema("state", "the state database", STATE.migrations[:1]))
    with old.write() as conn:
        conn.execute("INSERT INTO users (username, email, role, password_hash, created_at) "
                     "VALUES ('ada', 'ada@example.com', 'ADMIN', :hash, '2024-01-01T00:00:00Z')",
                     {"hash": CHEAP.hash("correct horse")})
        conn.execute("INSERT INTO login_attempts (address, attempted_at) VALUES ('10.0.0.1', 1.0)")
    old.close()
    with StateDB(any_url) as db:
        assert migrations(db.database, "state") == [(m.version, m.name) for m in STATE.migrations]
        assert UserStore(db, CHEAP).verify("ADA", "correct horse") is not None
        assert db.rows("SELECT id, address FROM login_attempts") == [{"id": 1, "address": "10.0.0.1"}]


def test_a_state_db_from_before_migrations_is_adopted(tmp_path: Path) -> None:
    """A state.db as Coursebase wrote it before migrations: same tables, no schema_migrations."""
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        for statement in STATE.migrations[0].sql:
            conn.execute(statement)
        conn.execute("INSERT INTO users (username, email, role, password_hash, created_at) "
                     "VALUES ('ada', 'ada@example.com', 'ADMIN', ?, '2024-01-01T00:00:00Z')", (CHEAP.hash("pw"),))
    conn.close()
    with StateDB(path) as db:
        assert [user.username for user in UserStore(db, CHEAP).list()] == ["ada"]
        assert len(migrations(db.database, "state")) == len(STATE.migrations)


def test_a_database_newer_than_the_code_is_refused_and_left_alone(any_url: str) -> None:
    opened(any_url, PAGES).close()
    with pytest.raises(ConfigError) as raised:
        opened(any_url, Schema("pages", "the pages database", PAGES.migrations[:1]))
    message = raised.value.message
    assert message.startswith("TEST_URL=")
    assert ("the pages database has migrations this version of Coursebase does not know (2 'titles'; this one "
            "knows 1 to 1): a newer Coursebase upgraded it. Run that newer version") in message
    if "@" in any_url:
        assert any_url.split(":")[2].split("@")[0] not in message  # the password
    db = opened(any_url, PAGES)
    assert migrations(db, "pages") == [(1, "pages"), (2, "titles")]
    db.close()


def test_a_failing_migration_changes_nothing(any_url: str) -> None:
    broken = Schema("pages", "the pages database", (PAGES.migrations[0], Migration(2, "typo", ("CREATE TABLE (",))))
    with pytest.raises(ConfigError, match=r"^TEST_URL=.*the pages database cannot be upgraded: migration 2 'typo'"):
        opened(any_url, broken)
    db = opened(any_url, Schema("empty", "nothing", ()))
    assert migrations(db, "pages") == []
    assert db.rows("SELECT count(*) AS n FROM schema_migrations") == [{"n": 0}]
    db.close()


def test_components_share_a_database_without_seeing_each_others_migrations(any_url: str) -> None:
    """The state and (later) the index may live in one Postgres database: each refuses only its own unknowns."""
    opened(any_url, PAGES).close()
    with StateDB(any_url) as db:
        assert [version for version, _ in migrations(db.database, "state")] == [1, 2, 3]
    db = opened(any_url, PAGES)
    assert migrations(db, "pages") == [(1, "pages"), (2, "titles")]
    db.close()


def test_servers_starting_together_apply_each_migration_once(any_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_and_close() -> None:
        start.wait()
        try:
            StateDB(any_url).close()
        except BaseException as error:
            errors.append(error)
    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with StateDB(any_url) as db:
        assert [version for version, _ in migrations(db.database, "state")] == [1, 2, 3]


def test_migrations_are_numbered_from_one() -> None:
    with pytest.raises(ValueError, match=r"must be numbered 1, 2, 3, … in order, not \[2\]"):
        Schema("x", "x", (Migration(2, "two", ("SELECT 1",)),))
