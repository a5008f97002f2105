"""`?ref=` on every public GET, through a real `cms serve`: who may ask, what they see, what is never touched.

Every test runs twice: with the main index in `.cms/index.db`, and with it in a Postgres database of the
session's `postgres_server` (`CMS_DATABASE_URL`), where preview indexes are SQLite files in `.cms/previews/`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from cms.content.corpus import ContentTree
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.review import links
from tests.api_server import BACKENDS, BASE, CMS, Site, cms_index, running_server, server_env
from tests.conftest import GIT_ENV, SITE, git, make_repo

SECRET = "a-test-secret-key-long-enough-for-hs256-0123456789"
PASSWORD = "password-for-tests-1"
WHY = "content/courses/intro-to-testing/01-basics/01-why-test.md"
DRAFT = "content/courses/intro-to-testing/01-basics/03-draft-only.md"
BRANCH = "drafts/review"
PROBLEM = "application/problem+json"
READS = ["/courses", "/courses/intro-to-testing", "/courses/intro-to-testing/sections",
         "/courses/intro-to-testing/sections/basics", "/courses/intro-to-testing/lessons",
         "/courses/intro-to-testing/lessons/why-test", "/projects", "/projects/test-dashboard", "/authors",
         "/authors/grace-tester", "/categories", "/paths", "/paths/testing-path", "/media/demo-video",
         "/search?q=test", "/meta", "/courses/intro-to-testing/history",
         "/courses/intro-to-testing/lessons/why-test/history"]
"""Every public GET route, once each."""


@dataclass
class Served:
    site: Site
    client: httpx.Client
    tokens: dict[str, str]
    folder: Path
    """Where the preview indexes are kept."""
    index_url: str | None = None
    """The Postgres index (CMS_DATABASE_URL); None on SQLite."""

    def get(self, path: str, who: str | None = None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get(f"{BASE}{path}", params=params, headers=headers)

    def commit(self, ref: str) -> str:
        return git(self.site.repo, "rev-parse", ref)

    def main_index(self) -> tuple[object, ...]:
        """The served index as it is: the SQLite file's bytes and time, or the Postgres index's commit and lessons."""
        if self.index_url is None:
            path = self.site.db_path
            return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
        with psycopg.connect(self.index_url) as conn:
            commit = conn.execute("SELECT value FROM cms_index.meta WHERE key = 'commit'").fetchall()
            lessons = conn.execute("SELECT slug, title, status, updated_at FROM cms_index.lessons ORDER BY slug")
            return tuple(commit), tuple(lessons.fetchall())


def make_branch(repo: Path) -> None:
    """`drafts/review`: a lesson retitled and a draft lesson added, beside the checkout (which stays on main)."""
    git(repo, "checkout", "--quiet", "-b", BRANCH)
    text = (repo / WHY).read_text()
    (repo / WHY).write_text(text.replace("title: Why test", "title: Why test, reviewed", 1))
    (repo / DRAFT).write_text("---\ntitle: Draft only on the branch\nstatus: draft\n---\nPelicandraft body.\n")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Review why-test")
    git(repo, "checkout", "--quiet", "main")


def create_user(state: Path, username: str, role: str) -> None:
    env = {**server_env(), **GIT_ENV, "CMS_STATE_URL": f"sqlite:///{state}", "CMS_SECRET_KEY": SECRET}
    subprocess.run([str(CMS), "users", "create", "--username", username, "--email", f"{username}@example.com",
                    "--role", role, "--password-stdin"], input=f"{PASSWORD}\n", text=True, check=True, env=env,
                   capture_output=True)


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`cms serve` over the test site with `drafts/review`, its index in `.cms/index.db` or on Postgres."""
    root = tmp_path_factory.mktemp(f"previews-api-{request.param}")
    repo = make_repo(root / "site", SITE)
    make_branch(repo)
    tree = ContentTree.locate(repo / "content")
    site = Site(repo=repo, content=repo / "content", db_path=database_path(tree, None))
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")
        name = f"previews_{secrets.token_hex(6)}"
        site.settings["CMS_DATABASE_URL"] = server.create_database(name)
        request.addfinalizer(lambda: server.drop_database(name))
        cms_index(site.content, **site.settings)
    else:
        update(tree, site.db_path)
    state = root / "state.db"
    for username, role in (("ada", "ADMIN"), ("moe", "MODERATOR"), ("uma", "USER")):
        create_user(state, username, role)
    settings = {"CMS_SECRET_KEY": SECRET, "CMS_STATE_URL": f"sqlite:///{state}", "CMS_PREVIEW_CACHE": "3"}
    with running_server(site, root, **settings) as running, httpx.Client(base_url=running.base_url,
                                                                         timeout=30) as client:
        tokens = {}
        for username in ("ada", "moe", "uma"):
            answer = client.post(f"{BASE}/auth/login", json={"username": username, "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            tokens[username] = answer.json()["access_token"]
        yield Served(site=running, client=client, tokens=tokens, folder=site.db_path.parent / "previews",
                     index_url=site.settings.get("CMS_DATABASE_URL"))


def assert_problem(response: httpx.Response, status: int, reason: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    if reason is not None:
        assert response.json()["type"] == f"urn:coursebase:problem:{reason}", response.json()


@pytest.mark.parametrize("who", ["ada", "moe"])
def test_every_public_read_answers_for_the_ref_privately(served: Served, who: str) -> None:
    for path in READS:
        path, _, query = path.partition("?")
        params = dict([query.split("=")]) if query else {}
        answer = served.get(path, who, ref=BRANCH, **params)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["cache-control"] == "private, no-store", path
        assert answer.headers["etag"], path
    assert served.get("/meta", who, ref=BRANCH).json()["commit"] == served.commit(BRANCH)


def test_the_branch_is_shown_with_its_drafts_and_main_stays_as_it_is(served: Served) -> None:
    lesson = "/courses/intro-to-testing/lessons/why-test"
    assert served.get(lesson, "ada", ref=BRANCH).json()["title"] == "Why test, reviewed"
    assert served.get(lesson, "ada").json()["title"] == "Why test"
    assert served.get(lesson).json()["title"] == "Why test"
    draft = "/courses/intro-to-testing/lessons/draft-only"
    assert served.get(draft, "ada", ref=BRANCH).json()["status"] == "draft"
    assert served.get(draft, "ada").status_code == 404
    outline = served.get("/courses/intro-to-testing", "moe", ref=BRANCH).json()
    assert "draft-only" in [lesson["slug"] for section in outline["sections"] for lesson in section["lessons"]]
    assert served.get("/search", "moe", ref=BRANCH, q="pelicandraft").json()["total"] == 1
    assert served.get("/search", "moe", q="pelicandraft").json()["total"] == 0


def test_a_commit_id_reads_the_entry_as_it_was(served: Served) -> None:
    first = git(served.site.repo, "rev-list", "--max-parents=0", "HEAD")
    for ref in (first, first[:12], "main"):
        answer = served.get("/courses/intro-to-testing/lessons/why-test", "ada", ref=ref)
        assert answer.status_code == 200 and answer.json()["title"] == "Why test"


def test_without_a_staff_token_or_a_link_the_ref_is_refused(served: Served) -> None:
    path = "/courses/intro-to-testing/lessons/why-test"
    assert_problem(served.get(path, ref=BRANCH), 401, "preview-needs-token")
    assert_problem(served.get(path, "uma", ref=BRANCH), 403, "preview-forbidden")
    bad = served.client.get(f"{BASE}{path}", params={"ref": BRANCH}, headers={"Authorization": "Bearer nope"})
    assert_problem(bad, 401)
    assert_problem(served.get(path, ref="no-such-branch"), 401)  # who asks comes before what exists


def test_a_preview_link_opens_its_ref_and_nothing_else(served: Served) -> None:
    path = "/courses/intro-to-testing/lessons/draft-only"
    token = links.sign(SECRET, BRANCH)
    opened = served.get(path, ref=BRANCH, preview=token)
    assert opened.status_code == 200 and opened.json()["title"] == "Draft only on the branch"
    assert opened.headers["cache-control"] == "private, no-store"
    assert served.get(path, "uma", ref=BRANCH, preview=token).status_code == 200
    assert_problem(served.get(path, ref="main", preview=token), 403, "preview-link-invalid")
    assert_problem(served.get(path, ref=BRANCH, preview=token[:-2] + "AA"), 403, "preview-link-invalid")
    expired = links.sign(SECRET, BRANCH, 60, now=time.time() - 120)
    assert_problem(served.get(path, ref=BRANCH, preview=expired), 403, "preview-link-invalid")
    other_key = links.sign("another-secret-key-that-is-long-enough-0123456789", BRANCH)
    assert_problem(served.get(path, ref=BRANCH, preview=other_key), 403, "preview-link-invalid")
    assert_problem(served.get(path, ref=BRANCH, preview=""), 400)
    assert served.get(path, preview=token).status_code == 404, "a link without its ref reads main, as anyone"


@pytest.mark.parametrize("ref", ["..", "-x", "--output=leak", "--all", "a b", "a\x01b", "HEAD~1", "main^", "a:b",
                                 "@{1}", "x.lock", "a/", ".x", "a//b", "é"])
def test_a_ref_that_is_not_a_ref_name_is_404_and_never_reaches_git(served: Served, ref: str) -> None:
    assert_problem(served.get("/courses", "ada", ref=ref), 404, "invalid-ref")
    assert not (served.site.repo / "leak").exists()


def test_unknown_too_long_and_empty_refs(served: Served) -> None:
    assert_problem(served.get("/courses", "ada", ref="no-such-branch"), 404, "unknown-ref")
    assert_problem(served.get("/courses", "ada", ref="0" * 40), 404, "unknown-ref")
    assert_problem(served.get("/courses", "ada", ref="x" * 256), 400)
    assert_problem(served.get("/courses", "ada", ref=""), 400)
    assert_problem(served.get("/courses/intro-to-testing/lessons/nope", "ada", ref=BRANCH), 404)


def test_etags_differ_per_ref_and_a_preview_is_never_a_304(served: Served) -> None:
    path = "/authors/grace-tester"  # the same on both refs
    main = served.get(path, "ada")
    branch = served.get(path, "ada", ref=BRANCH)
    by_commit = served.get(path, "ada", ref=served.commit(BRANCH))
    assert main.json() == branch.json() == by_commit.json()
    assert len({main.headers["etag"], branch.headers["etag"], by_commit.headers["etag"]}) == 3
    for etag in (main.headers["etag"], branch.headers["etag"], "*"):
        again = served.client.get(f"{BASE}{path}", params={"ref": BRANCH},
                                  headers={"Authorization": f"Bearer {served.tokens['ada']}", "If-None-Match": etag})
        assert again.status_code == 200 and again.json() == branch.json()
    head = served.client.head(f"{BASE}{path}", params={"ref": BRANCH},
                              headers={"Authorization": f"Bearer {served.tokens['ada']}"})
    assert head.status_code == 200 and head.headers["etag"] == branch.headers["etag"]


def test_the_main_index_is_never_changed_and_a_preview_is_built_once(served: Served) -> None:
    before = (served.main_index(), served.get("/meta").json()["commit"], git(served.site.repo, "status", "--porcelain"))
    served.get("/courses", "ada", ref=BRANCH)
    cached = served.folder / f"{served.commit(BRANCH)}.db"
    built = cached.stat().st_mtime_ns
    for path in READS:
        path = path.partition("?")[0]
        served.get(path, "moe", ref=BRANCH, **({"q": "test"} if path == "/search" else {}))
    assert cached.stat().st_mtime_ns == built, "the second request reused the cached index"
    after = (served.main_index(), served.get("/meta").json()["commit"], git(served.site.repo, "status", "--porcelain"))
    assert after == before
    assert before[1] == served.commit("main")


def test_at_most_the_configured_number_of_previews_is_kept(served: Served) -> None:
    commits = git(served.site.repo, "rev-list", "--all").split()
    for commit in commits:
        assert served.get("/meta", "ada", ref=commit).json()["commit"] == commit
    kept = sorted(path.name for path in served.folder.glob("*.db"))
    assert len(kept) == min(3, len(commits)), kept
    assert f"{commits[-1]}.db" in kept, "the last one read stays"


def test_a_branch_that_moves_is_read_at_its_new_commit(served: Served, tmp_path: Path) -> None:
    repo = served.site.repo
    git(repo, "branch", "moving", BRANCH)
    assert served.get("/meta", "ada", ref="moving").json()["commit"] == served.commit(BRANCH)
    worktree = tmp_path / "moving"
    git(repo, "worktree", "add", "--quiet", str(worktree), "moving")
    (worktree / WHY).write_text((worktree / WHY).read_text().replace("Why test, reviewed", "Why test, again"))
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "-C", str(worktree), "commit", "--quiet", "-am", "Again"], check=True, env=env)
    answer = served.get("/courses/intro-to-testing/lessons/why-test", "ada", ref="moving")
    assert answer.json()["title"] == "Why test, again"
    git(repo, "worktree", "remove", "--force", str(worktree))


def test_a_preview_link_asked_of_the_api_opens_the_branchs_page(served: Served) -> None:
    lesson = "/preview/courses/intro-to-testing/lessons/draft-only"
    made = served.client.post(f"{BASE}/preview-links", json={"ref": BRANCH, "path": lesson},
                              headers={"Authorization": f"Bearer {served.tokens['moe']}"})
    assert made.status_code == 201, made.text
    assert made.json()["commit"] == served.commit(BRANCH)
    url = httpx.URL(made.json()["url"])
    page = served.client.get(url.path, params=url.params, headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text
    assert page.headers["cache-control"] == "private, no-store"
    assert "Draft only on the branch" in page.text and "Pelicandraft body." in page.text
    assert "<script" not in page.text.lower()
    outline = served.client.get("/preview/courses/intro-to-testing", params={"ref": BRANCH},
                                headers={"Authorization": f"Bearer {served.tokens['ada']}", "Accept": "text/html"})
    assert outline.status_code == 200 and "Why test, reviewed" in outline.text
    missing = served.client.get("/preview/courses/intro-to-testing", params={"ref": "no-such-branch"},
                                headers={"Authorization": f"Bearer {served.tokens['ada']}", "Accept": "text/html"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


def test_a_new_ref_starts_from_the_main_index_or_on_postgres_from_the_preview_built_last(served: Served,
                                                                                         tmp_path: Path) -> None:
    repo = served.site.repo
    served.get("/meta", "ada", ref=BRANCH)
    branch_index = served.folder / f"{served.commit(BRANCH)}.db"
    conn = sqlite3.connect(branch_index)  # a mark no index run writes: a copy of this file carries it
    with conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('planted', 'on the branch')")
    conn.close()
    worktree = tmp_path / "second"
    git(repo, "worktree", "add", "--quiet", "-b", "second", str(worktree), "main")
    (worktree / WHY).write_text((worktree / WHY).read_text().replace("title: Why test", "title: Why test, second", 1))
    subprocess.run(["git", "-C", str(worktree), "commit", "--quiet", "-am", "Second"], check=True,
                   env={**os.environ, **GIT_ENV})
    git(repo, "worktree", "remove", "--force", str(worktree))
    assert served.get("/courses/intro-to-testing/lessons/why-test", "ada", ref="second").json()["title"] == \
        "Why test, second"
    assert_problem(served.get("/courses/intro-to-testing/lessons/draft-only", "ada", ref="second"), 404)
    assert served.get("/search", "ada", ref="second", q="pelicandraft").json()["total"] == 0
    conn = sqlite3.connect(served.folder / f"{served.commit('second')}.db")
    mark = conn.execute("SELECT value FROM meta WHERE key = 'planted'").fetchall()
    conn.close()
    if served.index_url is None:
        assert mark == [], "on SQLite a preview starts from the main index"
    else:
        assert mark == [("on the branch",)], "on Postgres a preview starts from the preview built last"
        assert not served.site.db_path.exists(), "no SQLite main index on Postgres"
    assert git(repo, "status", "--porcelain") == ""
