"""The accounts suites run on both state databases: a SQLite file, and a Postgres database of each test's own."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from cms.accounts import StateDB, users
from tests.postgres_server import PostgresServer

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "PASSWORD_HASHER", CHEAP)


def _migrated(url: str) -> None:
    StateDB(url).close()


def postgres_state(server: PostgresServer) -> Iterator[str]:
    """A Postgres state database at this code's migrations, copied from a template made once per session."""
    name = f"state_{secrets.token_hex(6)}"
    yield server.create_database(name, template=server.template("cms_state_template", _migrated))
    server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """CMS_STATE_URL of an empty state database (Postgres: migrated, SQLite: not created yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state/state.db"
    else:
        yield from postgres_state(request.getfixturevalue("postgres_server"))


@pytest.fixture
def db(state_url: str) -> Iterator[StateDB]:
    state = StateDB(state_url)
    yield state
    state.close()
