"""Shared test fixtures: real content trees in real git repositories under tmp dirs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar

from api.app import create_app
from cms.content.corpus import ContentTree
from cms.index.build import index_location, update
from cms.index.sqlite import database_path
from cms.read.documents import materialise
from cms.repo.repository import GitRepo
from cms.settings import Settings
from cms.write import journal
from cms.write.operations import Workspace

pytest_plugins = ["tests.postgres_server"]
"""A throwaway Postgres per xdist worker, started by the first test that asks for it."""

FIXTURES = Path(__file__).parent / "fixtures"
SITE = FIXTURES / "site"
EXAMPLE_CONTENT = Path(__file__).parent.parent / "content"

def pytest_runtest_setup(item: pytest.Item) -> None:
    """Under `--dist loadgroup`, a test marked `xdist_group` must carry its group in its id (that is how xdist
    keeps a group on one worker): fail it if a pytest and xdist pairing drops the group again."""
    mark = item.get_closest_marker("xdist_group")
    if mark is None or "PYTEST_XDIST_WORKER" not in os.environ or not item.config.getoption("loadgroup", False):
        return
    group = mark.kwargs.get("name", mark.args[0] if mark.args else "")
    if not item.nodeid.endswith(f"@{group}"):
        pytest.fail(f"--dist loadgroup ignored this test's xdist_group {group!r}, so it would run beside the tests "
                    "it must not meet: see pytest-xdist#1386 and the pytest pin in pyproject.toml", pytrace=False)


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author", "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity; return its stdout."""
    result = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                            env={**os.environ, **GIT_ENV})
    return result.stdout.strip()


def make_repo(path: Path, *trees: Path) -> Path:
    """A git repository at `path` holding `trees` copied over each other, committed."""
    path.mkdir(parents=True, exist_ok=True)
    for tree in trees:
        shutil.copytree(tree, path, dirs_exist_ok=True, symlinks=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "--message", "Initial content")
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A repository with the small valid test site; its content is at `site / "content"`."""
    return make_repo(tmp_path / "site", SITE)


@pytest.fixture
def space(site: Path) -> Workspace:
    """The test site as a write workspace, indexed."""
    tree = ContentTree.locate(site / "content")
    db_path = database_path(tree, None)
    update(tree, db_path)
    return Workspace(tree=tree, db_path=db_path)


def index_for_start(settings: Settings, index_path: Path | None = None) -> Path:
    """What `cms serve` has its indexer do before any worker starts: recover an interrupted write, then bring
    the index up to date. Returns the index's path."""
    tree = ContentTree.locate(settings.content_dir)
    journal.recover(GitRepo.open(tree.content_dir))
    db_path = index_path or index_location(tree, settings.database_url)
    update(tree, db_path, materialise=materialise)
    return db_path


def started_app(settings: Settings, index_path: Path | None = None) -> Litestar:
    """The app as `cms serve` starts it: the indexer's part, then the app, whose lifespan only opens what it reads."""
    return create_app(settings, index_path=index_for_start(settings, index_path))


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a server started by a test: politely, then for certain."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's environment or `.env`."""
    for name in list(os.environ):
        if name.startswith(("CMS_", "GEMINI_", "GOOGLE_GEMINI", "CLOUDINARY_", "FIRST_SUPERUSER")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
