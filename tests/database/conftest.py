"""Databases of both kinds for the tests of `cms.database`: a SQLite file, or a Postgres database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/db/test.db"
    else:
        yield request.getfixturevalue("postgres_database")
