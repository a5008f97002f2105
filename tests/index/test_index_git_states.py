"""The indexer while git is in an unusual state: odd file names, and a merge or rebase stopped on conflicts.

A file whose name holds a control character is reported (by `cms index`,
`cms validate` and so the write path) and the rest is served. While a
merge, rebase, cherry-pick or revert waits for conflicts to be resolved,
each conflicted file keeps its HEAD version in the index: published
content never drops out because of conflict markers in the working tree.
Everything runs on real repositories, through the real `cms` command and
the real API.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

pytest.register_assert_rewrite("tests.admin_api")

from api.app import create_app  # noqa: E402
from cms.accounts import Role  # noqa: E402
from cms.repo.repository import GitRepo  # noqa: E402
from cms.settings import Settings  # noqa: E402
from tests.admin_api import Starter  # noqa: E402
from tests.conftest import GIT_ENV, git  # noqa: E402
from tests.index.test_index import (  # noqa: E402
    FIRST_TEST,
    INTRO_COURSE,
    WHY_TEST,
    assert_same_index,
    commit,
    replace,
    scalar,
    write,
)

pytest_plugins = ["tests.admin_api"]

CMS = Path(sys.executable).parent / "cms"
BASE = "/api/v1"
PROJECT = "content/projects/test-dashboard.md"
PROJECT_TEXT = "---\ntitle: Odd name\nstatus: published\nproject_type: web\n---\nBody.\n"
CONTROL_NAMES = {"newline": "a\nb", "tab": "a\tb", "carriage-return": "a\rb", "escape": "a\x1b[2Jb",
                 "delete": "a\x7fb", "c1-control": "a\x85b"}


def cms(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `cms` command in a child process."""
    return subprocess.run([str(CMS), *args], capture_output=True, text=True, timeout=120, check=False)


def index_json(repo: Path) -> dict[str, Any]:
    """`cms index --json` on the repository's content: the run's report."""
    result = cms("index", "--json", str(repo / "content"))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def full_rebuild(repo: Path, db: Path) -> Path:
    """A fresh full index of the repository as it is now, in `db`."""
    env = {**os.environ, "CMS_DATABASE_URL": f"sqlite:///{db}"}
    result = subprocess.run([str(CMS), "index", "--quiet", "--full", str(repo / "content")], capture_output=True,
                            text=True, timeout=120, check=False, env=env)
    assert result.returncode == 0, result.stderr
    return db


def git_blob_id(data: bytes) -> str:
    """The blob id git gives `data`, computed without git."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# --------------------------------------------------------------------------- control characters in file names


@pytest.mark.parametrize("name", CONTROL_NAMES.values(), ids=CONTROL_NAMES.keys())
def test_cms_index_reports_a_control_character_in_a_file_name_and_indexes_the_rest(site: Path, name: str) -> None:
    label = f"content/projects/{name}.md"
    write(site, label, PROJECT_TEXT)
    report = index_json(site)
    assert (report["files"], report["read"]) == (18, 18)
    assert [(p["file"], p["rule"]) for p in report["problems"]] == [(label, "control-character")]
    message = report["problems"][0]["message"]
    assert repr(f"projects/{name}.md") in message and "may not contain control characters" in message
    db = site / ".cms" / "index.db"
    assert scalar(db, "SELECT COUNT(*) FROM lessons") == 5
    assert scalar(db, "SELECT COUNT(*) FROM projects") == 1
    again = index_json(site)
    assert again["read"] == 0 and [p["rule"] for p in again["problems"]] == ["control-character"]


def test_a_committed_file_with_a_control_character_is_reported_once_edited_too(site: Path) -> None:
    label = "content/projects/new\nline.md"
    write(site, label, PROJECT_TEXT)
    commit(site, "An oddly named project")
    assert [p["rule"] for p in index_json(site)["problems"]] == ["control-character"]
    write(site, label, PROJECT_TEXT + "More.\n")
    report = index_json(site)
    assert [p["rule"] for p in report["problems"]] == ["control-character"] and report["files"] == 18


def test_cms_validate_reports_a_control_character_in_a_file_name(site: Path) -> None:
    write(site, "content/projects/a\nb.md", PROJECT_TEXT)
    result = cms("validate", "--format", "json", str(site / "content"))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["files"] == 18
    assert [(p["file"], p["rule"]) for p in report["problems"]] == [("content/projects/a\nb.md", "control-character")]


def test_writes_go_on_while_a_file_name_holds_a_newline(fresh_repo: Path, start: Starter) -> None:
    write(fresh_repo, "content/projects/a\nb.md", PROJECT_TEXT)
    with start() as site:
        created = site.request("POST", "/projects", json={"slug": "brand-new", "title": "New"})
        assert created.status_code == 201, created.text
        version = site.version_of("/projects/test-dashboard")
        body = {"title": "Renamed dashboard", "status": "published", "project_type": "web", "body": "Text."}
        replaced = site.request("PUT", "/projects/test-dashboard", version=version, json=body)
        assert replaced.status_code == 200, replaced.text
        assert site.read("/projects/brand-new", Role.ADMIN).status_code == 200
    untracked = git(fresh_repo, "ls-files", "--others", "-z", "content/projects").split("\0")
    assert untracked[0] == "content/projects/a\nb.md"


ODD_NAMES = ["with space.md", 'with "quotes".md', "with\ttab.md", "with\\backslash.md", "ünïcödé €.md",
             "with\nnewline.md", "-leading-dash.md", '"leading-quote.md', "with:colon*star?.md"]


def test_git_answers_for_files_of_any_name(site: Path) -> None:
    """Blob ids (tracked, edited and untracked files) and history dates of names git would quote."""
    notes = site / "content" / "notes"
    notes.mkdir()
    for name in ODD_NAMES:
        (notes / name).write_text(f"committed {name}\n", encoding="utf-8")
    commit(site, "Oddly named notes")
    for number, name in enumerate(ODD_NAMES):
        if number % 2:
            (notes / name).write_text(f"edited {name}\n", encoding="utf-8")
        (notes / f"new {name}").write_text(f"untracked {name}\n", encoding="utf-8")
    repo = GitRepo.open(site)
    blobs = repo.blobs("content/notes/")
    expected = {f"content/notes/{path.name}": git_blob_id(path.read_bytes()) for path in notes.iterdir()}
    assert blobs.ids == expected and blobs.held == frozenset()
    dated = repo.history("content/")
    assert {f"content/notes/{name}" for name in ODD_NAMES} <= set(dated)
    assert set(repo.history("content/", [f"content/notes/{name}" for name in ODD_NAMES])) == {
        f"content/notes/{name}" for name in ODD_NAMES}


# --------------------------------------------------------------------------- conflicts mid-merge or mid-rebase

MAIN_TITLE, SIDE_TITLE = "Intro to Testing, main edition", "Intro to Testing, side edition"
MAIN_LESSON, SIDE_LESSON = "Your first test (main)", "Your first test (side)"


def run_git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git that may fail (a merge stopping on conflicts exits 1), with a no-op editor."""
    env = {**os.environ, **GIT_ENV, "GIT_EDITOR": "true"}
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False)


def edit(repo: Path, course_title: str, lesson_title: str) -> None:
    """Retitle the intro course and its first-test lesson."""
    for path, title in ((INTRO_COURSE, course_title), (FIRST_TEST, lesson_title)):
        text = (repo / path).read_text(encoding="utf-8")
        write(repo, path, re.sub(r"^title: .*$", f"title: {title}", text, count=1, flags=re.MULTILINE))


def branches(repo: Path) -> None:
    """`side` and `main` each retitle the intro course and a lesson; `side` also edits a lesson and a project."""
    git(repo, "checkout", "--quiet", "-b", "side")
    edit(repo, SIDE_TITLE, SIDE_LESSON)
    replace(repo, WHY_TEST, "title: Why test", "title: Why test, from side")
    replace(repo, PROJECT, "title: Test dashboard", "title: Dashboard from side")
    commit(repo, "Side edits")
    git(repo, "checkout", "--quiet", "main")
    edit(repo, MAIN_TITLE, MAIN_LESSON)
    commit(repo, "Main edits", "2025-02-02T12:00:00+00:00")


def stop_in_merge(repo: Path) -> str:
    branches(repo)
    assert run_git(repo, "merge", "side").returncode == 1
    return "merge"


def stop_in_rebase(repo: Path) -> str:
    branches(repo)
    git(repo, "checkout", "--quiet", "side")
    assert run_git(repo, "rebase", "main").returncode != 0
    return "rebase"


def stop_in_cherry_pick(repo: Path) -> str:
    branches(repo)
    assert run_git(repo, "cherry-pick", "side").returncode != 0
    return "cherry-pick"


def stop_in_revert(repo: Path) -> str:
    edit(repo, SIDE_TITLE, SIDE_LESSON)
    replace(repo, WHY_TEST, "title: Why test", "title: Why test, from side")
    commit(repo, "Edits to revert")
    edit(repo, MAIN_TITLE, MAIN_LESSON)
    commit(repo, "Later edits", "2025-02-02T12:00:00+00:00")
    assert run_git(repo, "revert", "HEAD~1").returncode != 0
    return "revert"


STOPS: dict[str, Callable[[Path], str]] = {"merge": stop_in_merge, "rebase": stop_in_rebase,
                                           "cherry-pick": stop_in_cherry_pick, "revert": stop_in_revert}


@contextmanager
def reader(repo: Path) -> Iterator[TestClient[Any]]:
    """The public read API over the repository's index."""
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(repo / "content"), "CMS_RESPONSE_HOLD_SECONDS": "0"})
    with TestClient(create_app(settings)) as client:
        yield client


def published(repo: Path) -> dict[str, Any]:
    """Every published course as the read API answers it (once `cms index` has run): course and lessons, by slug."""
    with reader(repo) as client:
        courses = client.get(f"{BASE}/courses").json()["items"]
        answers = {}
        for course in courses:
            slug = course["slug"]
            answer = client.get(f"{BASE}/courses/{slug}")
            lessons = client.get(f"{BASE}/courses/{slug}/lessons", params={"page_size": 100})
            assert (answer.status_code, lessons.status_code) == (200, 200), answer.text
            answers[slug] = {"course": answer.json(), "lessons": {x["slug"]: x for x in lessons.json()["items"]}}
        return answers


def head_blob(repo: Path, path: str) -> str:
    return git(repo, "rev-parse", f"HEAD:{path}")


def assert_heads_version_is_served(repo: Path, before: dict[str, Any]) -> None:
    report = index_json(repo)
    assert report["problems"] == []
    now = published(repo)
    assert {slug: answer["lessons"].keys() for slug, answer in now.items()} == {
        slug: answer["lessons"].keys() for slug, answer in before.items()}
    course, lesson = now["intro-to-testing"]["course"], now["intro-to-testing"]["lessons"]["first-test"]
    assert (course["title"], course["version"]) == (MAIN_TITLE, head_blob(repo, INTRO_COURSE))
    assert (lesson["title"], lesson["version"]) == (MAIN_LESSON, head_blob(repo, FIRST_TEST))


@pytest.mark.parametrize("stop", STOPS.values(), ids=STOPS.keys())
def test_a_conflicted_file_keeps_its_head_version_until_git_is_done(site: Path, tmp_path: Path,
                                                                    stop: Callable[[Path], str]) -> None:
    index_json(site)
    before = published(site)
    operation = stop(site)
    assert "<<<<<<<" in (site / INTRO_COURSE).read_text(encoding="utf-8")
    assert_heads_version_is_served(site, before)
    not_conflicted = "Why test" if operation == "revert" else "Why test, from side"
    assert published(site)["intro-to-testing"]["lessons"]["why-test"]["title"] == not_conflicted
    if operation != "revert":
        assert scalar(site / ".cms" / "index.db", "SELECT title FROM projects") == "Dashboard from side"
    assert run_git(site, operation, "--abort").returncode == 0
    index_json(site)
    assert_same_index(site / ".cms" / "index.db", full_rebuild(site, tmp_path / "aborted.db"))


@pytest.mark.parametrize("stop", STOPS.values(), ids=STOPS.keys())
def test_once_conflicts_are_resolved_and_committed_the_index_equals_a_full_rebuild(
        site: Path, tmp_path: Path, stop: Callable[[Path], str]) -> None:
    operation = stop(site)
    index_json(site)
    git(site, "checkout", "HEAD", "--", INTRO_COURSE, FIRST_TEST)
    edit(site, "Intro to Testing, merged", "Your first test, merged")
    git(site, "add", "--all")
    assert run_git(site, operation, "--continue").returncode == 0
    assert GitRepo.open(site).busy_reason() is None
    index_json(site)
    assert published(site)["intro-to-testing"]["course"]["title"] == "Intro to Testing, merged"
    assert_same_index(site / ".cms" / "index.db", full_rebuild(site, tmp_path / "resolved.db"))


def test_a_conflicted_file_staged_with_its_markers_still_keeps_its_head_version(site: Path) -> None:
    index_json(site)
    before = published(site)
    stop_in_merge(site)
    git(site, "add", INTRO_COURSE, FIRST_TEST)
    assert "<<<<<<<" in git(site, "show", f":{INTRO_COURSE}")
    assert_heads_version_is_served(site, before)
