"""Each entry's history through a real `cms serve`: commits newest first across renames, names never emails."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cms.content.corpus import ContentTree
from cms.index.build import update
from cms.index.sqlite import database_path
from tests.api_server import BASE, Site, running_server
from tests.conftest import GIT_ENV, SITE, git, make_repo

SECRET = "a-test-secret-key-long-enough-for-hs256-0123456789"
PASSWORD = "password-for-tests-1"
LESSON = "content/courses/intro-to-testing/01-basics/01-why-test.md"
MOVED = "content/courses/intro-to-testing/01-basics/03-why-test.md"
PROJECT = "content/projects/test-dashboard.md"
DRAFT_COURSE = "/courses/advanced-testing"
EMAIL = "hidden.address@example.org"


@dataclass
class Served:
    site: Site
    client: httpx.Client
    token: str

    def get(self, path: str, admin: bool = False, **params: str | int) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if admin else {}
        return self.client.get(f"{BASE}{path}", params=params, headers=headers)


def commit(repo: Path, message: str, date: str, author: str) -> str:
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": EMAIL,
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(repo), "add", "--all"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "--quiet", "-m", message, "-m", f"Body with {EMAIL}"],
                   check=True, env=env)
    return git(repo, "rev-parse", "HEAD")


def edit(repo: Path, path: str, old: str, new: str) -> None:
    file = repo / path
    file.write_text(file.read_text().replace(old, new, 1))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The test site, then: the lesson edited by Bea, renamed (renumbered) by Cy, edited again by Dee; the
    project edited three times."""
    root = tmp_path_factory.mktemp("history-api")
    repo = make_repo(root / "site", SITE)
    edit(repo, LESSON, "title: Why test", "title: Why test (2)")
    commit(repo, "Retitle why-test", "2030-01-01T10:00:00Z", "Bea Writer")
    git(repo, "mv", LESSON, MOVED)
    commit(repo, "Move why-test last", "2030-01-02T10:00:00Z", "Cy Mover")
    edit(repo, MOVED, "title: Why test (2)", "title: Why test (3)")
    commit(repo, "Retitle why-test again", "2030-01-03T10:00:00Z", "Dee Editor")
    for n in range(3):
        (repo / PROJECT).write_text((repo / PROJECT).read_text() + f"\nEdit {n}.\n")
        commit(repo, f"Project edit {n}", f"2030-02-0{n + 1}T10:00:00Z", "Eve Dev")
    tree = ContentTree.locate(repo / "content")
    update(tree, database_path(tree, None))
    site = Site(repo=repo, content=repo / "content", db_path=database_path(tree, None))
    settings = {"CMS_SECRET_KEY": SECRET, "CMS_STATE_URL": f"sqlite:///{root / 'state.db'}",
                "FIRST_SUPERUSER": "ada", "FIRST_SUPERUSER_PASSWORD": PASSWORD}
    with running_server(site, root, **settings) as running, httpx.Client(base_url=running.base_url,
                                                                         timeout=30) as client:
        answer = client.post(f"{BASE}/auth/login", json={"username": "ada", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        yield Served(site=running, client=client, token=answer.json()["access_token"])


def test_a_lessons_history_is_newest_first_across_its_rename(served: Served) -> None:
    answer = served.get("/courses/intro-to-testing/lessons/why-test/history")
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert [item["author"] for item in page["items"]] == ["Dee Editor", "Cy Mover", "Bea Writer", "Test Author"]
    assert [item["message"] for item in page["items"]][:3] == ["Retitle why-test again", "Move why-test last",
                                                              "Retitle why-test"]
    assert page["items"][0]["date"] == "2030-01-03T10:00:00Z"
    assert page["items"][0]["commit"] == git(served.site.repo, "rev-parse", "HEAD~3")
    assert set(page["items"][0]) == {"commit", "author", "date", "message"}
    assert page["total"] == 4 and page["page"] == 1 and page["page_size"] == 20
    assert EMAIL not in answer.text and "author@example.com" not in answer.text
    assert answer.headers["cache-control"].startswith("public")


def test_histories_are_paged_with_links(served: Served) -> None:
    first = served.get("/projects/test-dashboard/history", page_size=2)
    assert first.json()["total"] == 4 and [i["message"] for i in first.json()["items"]] == ["Project edit 2",
                                                                                          "Project edit 1"]
    assert 'rel="next"' in first.headers["link"] and "page=2" in first.headers["link"]
    second = served.get("/projects/test-dashboard/history", page_size=2, page=2)
    assert second.json()["items"][0]["message"] == "Project edit 0"
    assert 'rel="prev"' in second.headers["link"]
    assert served.get("/projects/test-dashboard/history", page=9).json()["items"] == []


@pytest.mark.parametrize("path", ["/courses/intro-to-testing/history", "/authors/grace-tester/history",
                                  "/paths/testing-path/history"])
def test_every_kind_has_a_history(served: Served, path: str) -> None:
    answer = served.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] >= 1 and answer.json()["items"][-1]["author"] == "Test Author"


def test_hidden_entries_answer_404_unless_staff_ask(served: Served) -> None:
    for path in (f"{DRAFT_COURSE}/history", f"{DRAFT_COURSE}/lessons/fakes/history"):
        assert served.get(path).status_code == 404
        assert served.get(path, admin=True).status_code == 200
        assert served.get(path, admin=True).headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize("path", ["/courses/nope/history", "/courses/intro-to-testing/lessons/nope/history",
                                  "/projects/nope/history", "/authors/nope/history", "/paths/nope/history",
                                  "/courses/..%2F..%2Fetc/history", "/projects/-x/history"])
def test_unknown_entries_are_404_problems(served: Served, path: str) -> None:
    answer = served.get(path)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json")


def test_bad_paging_is_400(served: Served) -> None:
    for params in ({"page": 0}, {"page_size": 101}, {"page": "x"}, {"colour": "red"}):
        assert served.get("/projects/test-dashboard/history", **params).status_code == 400


def test_with_ref_the_history_is_that_commits(served: Served) -> None:
    old = git(served.site.repo, "rev-parse", "HEAD~4")  # after the rename, before the second retitle
    answer = served.get("/courses/intro-to-testing/lessons/why-test/history", admin=True, ref=old)
    assert [item["author"] for item in answer.json()["items"]] == ["Cy Mover", "Bea Writer", "Test Author"]
    detail = served.get("/courses/intro-to-testing/lessons/why-test", admin=True, ref=old)
    assert detail.json()["title"] == "Why test (2)"
    assert served.get("/courses/intro-to-testing/lessons/why-test/history", ref=old).status_code == 401
