"""Database settings: which database a URL names, and messages that name the variable and hide the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from cms.database import PostgresUrl, SqliteFile, locate, redacted
from cms.errors import ConfigError
from cms.index.sqlite import database_path
from cms.settings import Settings


@pytest.mark.parametrize("setting", ["CMS_STATE_URL", "CMS_DATABASE_URL"])
@pytest.mark.parametrize("url", ["mysql://cms:s3cret@db/cms", "postgresql+psycopg://cms:s3cret@db/cms",
                                 "db:5432/cms", "sqlite://relative.db", "cms:s3cret@db"])
def test_an_unknown_scheme_stops_start_up_naming_the_variable(setting: str, url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({setting: url})
    message = raised.value.message
    assert message.startswith(f"{setting} is not valid: ") and "s3cret" not in message
    assert "use sqlite:///path/to/file.db or postgresql://user:password@host:5432/database" in message


@pytest.mark.parametrize("url", ["sqlite:///var/cms/state.db", "postgresql://cms:pw@db:5432/cms", "postgres://db/cms"])
def test_both_kinds_are_accepted_for_both_databases(url: str) -> None:
    settings = Settings.from_env({"CMS_STATE_URL": url, "CMS_DATABASE_URL": url})
    assert settings.state_url == settings.database_url == url


def test_locate_names_a_file_or_a_server(tmp_path: Path) -> None:
    assert locate("S", None, tmp_path, "state.db") == SqliteFile(tmp_path / ".cms/state.db", "S")
    assert locate("X", "sqlite:////srv/x.db", tmp_path, "x.db") == SqliteFile(Path("/srv/x.db"), "X")
    assert locate("X", "postgresql://u:p@h/d", tmp_path, "x.db") == PostgresUrl("postgresql://u:p@h/d", "X")
    assert str(PostgresUrl("postgresql://u:p@h/d", "X")) == "postgresql://u:***@h/d"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://cms:s3cret@db:5432/cms", "postgresql://cms:***@db:5432/cms"),
    ("postgresql://cms:p%40ss@db/cms?sslmode=require", "postgresql://cms:***@db/cms?sslmode=require"),
    ("postgresql://cms@db/cms", "postgresql://cms@db/cms"),
    ("postgresql://cms:s3cret@db:99999999/cms", "postgresql://cms:***@db:99999999/cms"),
    ("postgresql://cms@db/cms?sslmode=require&password=s3cret", "postgresql://cms@db/cms?sslmode=require&password=***"),
    ("cms:s3cret@db", "cms:***@db"),
])
def test_redacted(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_a_sqlite_index_path_refuses_a_postgres_url_clearly(tmp_path: Path) -> None:
    from cms.content.corpus import ContentTree
    from tests.conftest import SITE, make_repo

    tree = ContentTree.locate(make_repo(tmp_path / "site", SITE) / "content")
    with pytest.raises(ConfigError) as raised:
        database_path(tree, "postgresql://cms:s3cret@db/cms")
    assert raised.value.message == (
        "CMS_DATABASE_URL=postgresql://cms:***@db/cms: a SQLite file is needed here: use sqlite:///path/to/index.db")
