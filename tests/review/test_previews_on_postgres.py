"""Branch previews when the main index is on Postgres: SQLite files in the repository's `.cms/previews/`, the
first built from its commit alone, each next one from the preview built last; the Postgres index untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from cms.content.corpus import ContentTree
from cms.database import PostgresUrl
from cms.index.build import index_location, update
from cms.review.previews import Previews
from tests.conftest import git
from tests.review.test_previews import full_index_of, make_site, rows

BRANCH = "drafts/review"


@pytest.fixture
def site(tmp_path: Path, postgres_database: str) -> tuple[Path, PostgresUrl]:
    """`make_site`, indexed into a Postgres database (CMS_DATABASE_URL), with no SQLite index anywhere."""
    repo = make_site(tmp_path)
    tree = ContentTree.locate(repo / "content")
    location = index_location(tree, postgres_database)
    assert isinstance(location, PostgresUrl)
    update(tree, location)
    return repo, location


def previews_of(repo: Path, location: PostgresUrl, keep: int = 8) -> Previews:
    return Previews(ContentTree.locate(repo / "content"), location, keep)


def plant(index: Path, value: str) -> None:
    """Mark a cached preview with a meta row no run writes: a preview built from it carries the mark."""
    conn = sqlite3.connect(index)
    try:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('planted', ?)", [value])
        conn.commit()
    finally:
        conn.close()


def planted(index: Path) -> str | None:
    conn = sqlite3.connect(index)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'planted'").fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def assert_one_file(index: Path) -> None:
    """A cached preview is one self-contained file: no write-ahead log, so nothing is left beside it once read."""
    conn = sqlite3.connect(index)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        conn.close()
    assert not index.with_name(f"{index.name}-wal").exists()


def main_index_state(location: PostgresUrl) -> tuple[object, ...]:
    """What the Postgres index holds: its commit and every lesson's title and blob."""
    with psycopg.connect(location.url) as conn:
        commit = conn.execute("SELECT value FROM cms_index.meta WHERE key = 'commit'").fetchone()
        lessons = conn.execute("SELECT slug, title, status FROM cms_index.lessons ORDER BY slug").fetchall()
    return commit, tuple(lessons)


def test_the_first_preview_is_built_from_its_commit_alone_in_dot_cms(site: tuple[Path, PostgresUrl],
                                                                     tmp_path: Path) -> None:
    repo, location = site
    before = main_index_state(location)
    previews = previews_of(repo, location)
    assert previews.folder == repo / ".cms" / "previews"
    assert not (repo / ".cms").exists(), "nothing local until a preview is asked for"
    preview = previews.index(BRANCH)
    assert preview.path == repo / ".cms" / "previews" / f"{preview.commit}.db"
    assert rows(preview.path) == rows(full_index_of(repo, BRANCH, tmp_path / "clone"))
    conn = previews.open(preview)
    assert conn.execute("SELECT status FROM lessons WHERE slug = 'draft-only'").fetchone()["status"] == "draft"
    assert conn.execute("SELECT title FROM lessons WHERE slug = 'why-test'").fetchone()["title"] == \
        "Why test, reviewed"
    assert conn.execute("PRAGMA journal_mode").fetchone()["journal_mode"] == "delete", "one file"
    assert sorted(path.name for path in previews.folder.iterdir()) == [".lock", f"{preview.commit}.db"]
    assert main_index_state(location) == before
    assert before[0] == (git(repo, "rev-parse", "main"),)
    assert git(repo, "status", "--porcelain", "--ignored") == "!! .cms/", "the cache is ignored by git"
    assert git(repo, "branch", "--show-current") == "main"


def test_each_next_preview_starts_from_the_one_built_last(site: tuple[Path, PostgresUrl], tmp_path: Path) -> None:
    repo, location = site
    git(repo, "tag", "before-touch", "main~2")
    previews = previews_of(repo, location)
    first = previews.index(BRANCH)
    assert planted(first.path) is None
    plant(first.path, "on the branch")
    second = previews.index("main")  # main has commits the branch lacks: the path touched and reverted
    assert planted(second.path) == "on the branch", "copied from the branch's preview"
    assert_one_file(first.path)
    assert_one_file(second.path)
    assert rows(second.path) == rows(full_index_of(repo, "main", tmp_path / "main"))
    plant(second.path, "on main")
    third = previews.index("before-touch")
    assert planted(third.path) == "on main", "copied from the preview built last, not the first"
    assert rows(third.path) == rows(full_index_of(repo, "before-touch", tmp_path / "before-touch"))
    assert planted(previews.index(BRANCH).path) == "on the branch", "a cached preview is reused, not rebuilt"


def test_after_eviction_the_preview_built_last_is_still_the_base(site: tuple[Path, PostgresUrl]) -> None:
    repo, location = site
    previews = previews_of(repo, location, keep=1)
    first = previews.index(BRANCH)
    plant(first.path, "first")
    second = previews.index("main")
    assert not first.path.exists() and planted(second.path) == "first"
    assert sorted(path.name for path in previews.folder.iterdir()) == [".lock", f"{second.commit}.db"]


def test_a_build_killed_before_any_preview_was_kept_leaves_nothing_used(site: tuple[Path, PostgresUrl]) -> None:
    repo, location = site
    previews = previews_of(repo, location)
    commit = previews.commit(BRANCH)
    previews.folder.mkdir(parents=True)
    for leftover in (".building", ".building-wal", ".building-journal", ".building.building", ".building.lock"):
        (previews.folder / f"{commit}.db{leftover}").write_bytes(b"half-written " * 100)
    conn = previews.open(previews.index(BRANCH))
    assert conn.execute("SELECT title FROM lessons WHERE slug = 'first-test'").fetchone()["title"] == \
        "First test, reviewed"
    assert sorted(path.name for path in previews.folder.iterdir()) == [".lock", f"{commit}.db"]


@pytest.mark.parametrize("damage", ["an older schema", "not a database"])
def test_a_preview_built_last_that_is_not_this_versions_index_is_no_base(site: tuple[Path, PostgresUrl],
                                                                        tmp_path: Path, damage: str) -> None:
    repo, location = site
    previews = previews_of(repo, location)
    first = previews.index(BRANCH)
    plant(first.path, "on the branch")
    if damage == "an older schema":
        conn = sqlite3.connect(first.path)
        with conn:
            conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.close()
    else:
        first.path.write_bytes(b"not an index " * 1000)
    second = previews.index("main")
    assert planted(second.path) is None, "built from the commit alone"
    assert rows(second.path) == rows(full_index_of(repo, "main", tmp_path / "main"))
    assert_one_file(second.path)
