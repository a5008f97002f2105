"""301 for renamed entries, and `GET /redirects`, over real HTTP from a real `cms serve`.

The module's repository is the test site with renames committed the way
authors make them (`git mv`, commit): a lesson's slug, then its whole
course folder (so the lesson's old path is a chain), a project, a section
renamed and renamed back, and a lesson whose old slug a new lesson took.
The server indexes it at start; tests that rename more index again from
the test process, and the server follows the index. Writes go through the
admin API on their own repositories (`tests.admin_api`): PUT cannot rename,
and a rename pulled by the push webhook redirects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.register_assert_rewrite("tests.admin_api")

from cms.accounts import Role  # noqa: E402
from cms.content.corpus import ContentTree  # noqa: E402
from cms.index.build import update  # noqa: E402
from cms.index.sqlite import database_path  # noqa: E402
from tests.admin_api import AdminSite, Starter, signature  # noqa: E402
from tests.api_server import BASE, CACHE_MAX_AGE, Site, running_server  # noqa: E402
from tests.conftest import SITE, git, make_repo  # noqa: E402

pytest_plugins = ["tests.admin_api"]

INTRO = "content/courses/intro-to-testing"
ADVANCED = "content/courses/advanced-testing"
NEW = "/courses/testing-101"
PROBLEM = "application/problem+json"


def rename(repo: Path, old: str, new: str, message: str, edits: dict[str, tuple[str, str]] | None = None) -> None:
    """`git mv old new`, with small edits to other files (`path: (before, after)`) in the same commit."""
    git(repo, "mv", old, new)
    for path, (before, after) in (edits or {}).items():
        target = repo / path
        target.write_text(target.read_text().replace(before, after))
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message)


def renamed_site(root: Path) -> Site:
    repo = make_repo(root / "site", SITE)
    rename(repo, f"{INTRO}/01-basics/01-why-test.md", f"{INTRO}/01-basics/01-why-we-test.md", "Lesson slug",
           {f"{INTRO}/02-practice/01-cheat-sheet.md": ("01-why-test.md", "01-why-we-test.md")})
    references = {f"{ADVANCED}/course.md": ("[intro-to-testing]", "[testing-101]"),
                  "content/paths/testing-path.md": ("[intro-to-testing,", "[testing-101,")}
    rename(repo, INTRO, "content/courses/testing-101", "Course folder", references)
    rename(repo, "content/projects/test-dashboard.md", "content/projects/flaky-dashboard.md", "Project")
    rename(repo, f"{ADVANCED}/01-mocking", f"{ADVANCED}/01-doubles", "Section")
    rename(repo, f"{ADVANCED}/01-doubles", f"{ADVANCED}/01-mocking", "Section back")
    rename(repo, f"{ADVANCED}/01-mocking/01-fakes.md", f"{ADVANCED}/01-mocking/01-stubs.md", "Lesson")
    (repo / f"{ADVANCED}/01-mocking/02-fakes.md").write_text("---\ntitle: Fakes again\n---\nA new lesson.\n")
    (repo / f"{ADVANCED}/course.md").write_text((repo / f"{ADVANCED}/course.md").read_text()
                                                .replace("status: draft", "status: published"))
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", "A new lesson takes the old slug; publish the course")
    tree = ContentTree.locate(repo / "content")
    db_path = database_path(tree, None)
    report = update(tree, db_path)
    assert not [p for p in report.problems if p.is_error], report.problems
    return Site(repo=repo, content=tree.content_dir, db_path=db_path)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("redirects")
    with running_server(renamed_site(root), root) as site:
        yield site


@pytest.fixture(scope="module")
def client(served: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=10, follow_redirects=False) as http:
        yield http


def assert_moved(response: httpx.Response, location: str) -> None:
    assert response.status_code == 301, response.text
    assert response.headers["location"] == location
    assert response.headers["cache-control"] == f"public, max-age={CACHE_MAX_AGE}"
    assert response.content == b""


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM and "location" not in response.headers


def test_a_renamed_course_answers_301_with_its_new_path(client: httpx.Client) -> None:
    assert_moved(client.get(f"{BASE}/courses/intro-to-testing"), f"{BASE}{NEW}")
    followed = client.get(f"{BASE}/courses/intro-to-testing", follow_redirects=True)
    assert followed.status_code == 200 and followed.json()["slug"] == "testing-101"


def test_a_chain_answers_the_last_path_at_once(client: httpx.Client) -> None:
    """why-test became why-we-test, then its course moved: one hop to where it is now."""
    assert_moved(client.get(f"{BASE}/courses/intro-to-testing/lessons/why-test"),
                 f"{BASE}{NEW}/lessons/why-we-test")
    assert_moved(client.get(f"{BASE}/courses/intro-to-testing/lessons/why-we-test"),
                 f"{BASE}{NEW}/lessons/why-we-test")
    followed = client.get(f"{BASE}/courses/intro-to-testing/lessons/why-test", follow_redirects=True)
    assert followed.status_code == 200 and followed.json()["slug"] == "why-we-test"
    assert [r.status_code for r in followed.history] == [301]


def test_head_answers_like_get(client: httpx.Client) -> None:
    response = client.head(f"{BASE}/courses/intro-to-testing/lessons/why-test")
    assert_moved(response, f"{BASE}{NEW}/lessons/why-we-test")


def test_the_query_is_kept(client: httpx.Client) -> None:
    assert_moved(client.get(f"{BASE}/courses/intro-to-testing/lessons?section=basics&page_size=2"),
                 f"{BASE}{NEW}/lessons?section=basics&page_size=2")
    assert_moved(client.get(f"{BASE}/courses/intro-to-testing/sections?page=1"), f"{BASE}{NEW}/sections?page=1")


def test_a_renamed_course_takes_its_subroutes(client: httpx.Client) -> None:
    for rest in ("/sections", "/sections/basics", "/lessons", "/lessons/first-test"):
        assert_moved(client.get(f"{BASE}/courses/intro-to-testing{rest}"), f"{BASE}{NEW}{rest}")


def test_a_project_redirects(client: httpx.Client) -> None:
    assert_moved(client.get(f"{BASE}/projects/test-dashboard"), f"{BASE}/projects/flaky-dashboard")


def test_a_reused_slug_serves_the_new_entry(client: httpx.Client) -> None:
    response = client.get(f"{BASE}/courses/advanced-testing/lessons/fakes")
    assert response.status_code == 200 and response.json()["title"] == "Fakes again"


def test_a_rename_back_serves_the_entry_and_leaves_no_loop(client: httpx.Client) -> None:
    assert client.get(f"{BASE}/courses/advanced-testing/sections/mocking").status_code == 200
    assert_moved(client.get(f"{BASE}/courses/advanced-testing/sections/doubles"),
                 f"{BASE}/courses/advanced-testing/sections/mocking")


def test_what_never_existed_is_404(client: httpx.Client) -> None:
    for path in ("/courses/never-was", f"{NEW}/lessons/never-was", "/projects/never-was",
                 "/courses/advanced-testing/lessons/never-was", "/authors/never-was", "/paths/never-was",
                 "/media/never-was", "/courses/never-was/lessons/why-test"):
        assert_not_found(client.get(f"{BASE}{path}"))


def test_under_a_renamed_course_an_unknown_lesson_is_404_at_the_new_path(client: httpx.Client) -> None:
    """The course moved, so its paths move with it; what was never there is then missing at the new path."""
    assert_moved(client.get(f"{BASE}/courses/intro-to-testing/lessons/never-was"),
                 f"{BASE}{NEW}/lessons/never-was")
    assert_not_found(client.get(f"{BASE}{NEW}/lessons/never-was"))


def test_writes_to_an_old_path_are_not_redirected(client: httpx.Client) -> None:
    for method in ("PUT", "DELETE", "POST", "PATCH"):
        response = client.request(method, f"{BASE}/courses/intro-to-testing", json={})
        assert response.status_code != 301 and "location" not in response.headers, (method, response.text)


@pytest.mark.parametrize("path", [
    "/courses/..%2F..%2Fetc%2Fpasswd", "/courses/intro-to-testing%2F..%2Fadvanced-testing",
    "/courses/" + "a" * 500, "/courses/intro-to-testing/lessons/" + "x" * 5000, "/courses/%00",
    "/courses/intro-to-testing/lessons/why-test/extra", "/courses/INTRO-TO-TESTING", "/courses/%E2%80%AE",
])
def test_bad_paths_never_500(client: httpx.Client, path: str) -> None:
    response = client.get(f"{BASE}{path}")
    assert response.status_code in (301, 400, 404), response.text
    if response.status_code == 301:
        assert response.headers["location"].startswith(f"{BASE}{NEW}")


def test_redirects_list_is_a_page(client: httpx.Client) -> None:
    everything = client.get(f"{BASE}/redirects", params={"page_size": 100}).json()
    olds = [item["old_path"] for item in everything["items"]]
    assert olds == sorted(olds) and everything["total"] == len(olds)
    assert {"/courses/intro-to-testing", "/courses/intro-to-testing/lessons/why-test",
            "/courses/intro-to-testing/lessons/why-we-test", "/projects/test-dashboard",
            "/courses/advanced-testing/sections/doubles"} <= set(olds)
    assert "/courses/advanced-testing/lessons/fakes" not in olds  # reused
    assert "/courses/advanced-testing/sections/mocking" not in olds  # renamed back
    by_old = {item["old_path"]: item for item in everything["items"]}
    course = by_old["/courses/intro-to-testing"]
    assert set(course) == {"kind", "old_path", "new_path", "commit", "renamed_at"}
    assert (course["kind"], course["new_path"]) == ("course", NEW) and len(course["commit"]) == 40
    first = client.get(f"{BASE}/redirects", params={"page_size": 2})
    assert first.status_code == 200 and first.json()["items"] == everything["items"][:2]
    assert first.json()["total"] == len(olds) and first.json()["page_size"] == 2
    assert 'rel="next"' in first.headers["link"] and "page=2" in first.headers["link"]
    past = client.get(f"{BASE}/redirects", params={"page": 1000}).json()
    assert past["items"] == [] and past["total"] == len(olds)


@pytest.mark.parametrize("query", [{"page": 0}, {"page_size": 0}, {"page_size": 101}, {"page": "x"},
                                   {"kind": "course"}])
def test_redirects_list_refuses_bad_parameters(client: httpx.Client, query: dict[str, Any]) -> None:
    response = client.get(f"{BASE}/redirects", params=query)
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM


def test_the_openapi_document_shows_301_and_location(client: httpx.Client) -> None:
    document = client.get(f"{BASE}/docs/openapi.json").json()
    for path in ("/courses/{course}", "/courses/{course}/lessons/{lesson}", "/courses/{course}/sections",
                 "/projects/{project}", "/authors/{author}", "/paths/{path}", "/media/{media_id}"):
        moved = document["paths"][f"{BASE}{path}"]["get"]["responses"]["301"]
        assert "Location" in moved["headers"], path
    for path in ("/courses", "/redirects", "/search"):
        assert "301" not in document["paths"][f"{BASE}{path}"]["get"]["responses"]
    assert document["paths"][f"{BASE}/redirects"]["get"]["responses"]["200"]["headers"]["Link"]


def test_a_new_rename_redirects_once_indexed(served: Site, client: httpx.Client) -> None:
    """The last test on the module's server: it renames an author."""
    assert client.get(f"{BASE}/authors/grace-tester").status_code == 200
    references = {path: ("grace-tester", "grace-hopper") for path in
                  (f"{ADVANCED}/course.md", "content/courses/testing-101/course.md")}
    rename(served.repo, "content/authors/grace-tester.md", "content/authors/grace-hopper.md", "Author", references)
    update(ContentTree.locate(served.content), served.db_path)
    assert_moved(client.get(f"{BASE}/authors/grace-tester"), f"{BASE}/authors/grace-hopper")
    listed = client.get(f"{BASE}/redirects", params={"page_size": 100}).json()["items"]
    assert {"kind": "author", "old_path": "/authors/grace-tester", "new_path": "/authors/grace-hopper"} \
        .items() <= next(item for item in listed if item["kind"] == "author").items()


# --- through the admin API -------------------------------------------------------------------------------

LESSON = "/courses/intro-to-testing/lessons/why-test"


def read(site: AdminSite, path: str, role: Role | None = None) -> httpx.Response:
    """A GET that does not follow redirects (the test client does by default)."""
    return site.client.get(f"{BASE}{path}", headers=site.auth(role) if role else {}, follow_redirects=False)


def test_put_cannot_rename_and_leaves_no_redirect(admin_site: AdminSite) -> None:
    site = admin_site
    lesson = site.read(LESSON, Role.ADMIN).json()
    head = site.head()
    for change in ({"slug": "why-we-test"}, {"section": "practice"}, {"order": 9}):
        response = site.request("PUT", LESSON, version=lesson["version"], json={**lesson, **change})
        assert response.status_code == 422, response.text
        assert "cannot be changed by PUT" in response.text
    assert site.head() == head
    assert site.read("/redirects").json()["total"] == 0
    assert read(site, LESSON).status_code == 200


def test_a_write_after_a_rename_keeps_the_redirect(fresh_repo: Path, start: Starter) -> None:
    rename(fresh_repo, f"{INTRO}/01-basics/01-why-test.md", f"{INTRO}/01-basics/01-why-we-test.md", "Rename")
    with start() as site:
        moved = read(site, LESSON)
        assert moved.status_code == 301 and moved.headers["location"] == f"{BASE}/courses/intro-to-testing/" \
                                                                          "lessons/why-we-test"
        new = "/courses/intro-to-testing/lessons/why-we-test"
        lesson = site.read(new, Role.ADMIN).json()
        response = site.request("PUT", new, version=lesson["version"], json={**lesson, "title": "Why we test"})
        assert response.status_code == 200, response.text
        assert site.read(new).json()["title"] == "Why we test"
        again = read(site, LESSON)
        assert again.status_code == 301 and again.headers["location"] == f"{BASE}{new}"
        staff = read(site, LESSON, Role.ADMIN)
        assert staff.status_code == 301 and staff.headers["cache-control"] == "private, no-store"


def test_preview_pages_redirect_too(fresh_repo: Path, start: Starter) -> None:
    rename(fresh_repo, f"{INTRO}/01-basics/01-why-test.md", f"{INTRO}/01-basics/01-why-we-test.md", "Rename",
           {f"{INTRO}/02-practice/01-cheat-sheet.md": ("01-why-test.md", "01-why-we-test.md")})
    old = "/preview/courses/intro-to-testing/lessons/why-test"
    new = "/preview/courses/intro-to-testing/lessons/why-we-test"
    with start() as site:
        headers = site.auth(Role.MODERATOR)
        moved = site.client.get(f"{old}?ref=main", headers=headers, follow_redirects=False)
        assert moved.status_code == 301 and moved.headers["location"] == f"{new}?ref=main"
        assert moved.headers["cache-control"] == "private, no-store"
        page = site.client.get(f"{old}?ref=main", headers=headers)
        assert page.status_code == 200 and page.url.path == new and "text/html" in page.headers["content-type"]
        assert site.client.get(old, follow_redirects=False).status_code == 401  # who may read comes first
        never = site.client.get("/preview/courses/intro-to-testing/lessons/never-was", headers=headers)
        assert never.status_code == 404


def test_a_rename_pulled_by_the_push_webhook_redirects(admin_site: AdminSite) -> None:
    site = admin_site
    other = site.repo.parent / "other"
    git(site.repo.parent, "clone", "--quiet", str(site.bare), str(other))
    rename(other, "content/projects/test-dashboard.md", "content/projects/dashboard.md", "Their rename")
    git(other, "push", "--quiet")
    assert site.read("/projects/test-dashboard").status_code == 200
    event = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
    response = site.client.post(f"{BASE}/hooks/git", content=event,
                                headers={"X-Hub-Signature-256": signature(event), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    moved = read(site, "/projects/test-dashboard")
    assert moved.status_code == 301 and moved.headers["location"] == f"{BASE}/projects/dashboard"
    assert site.read("/redirects").json()["items"][0]["commit"] == git(other, "rev-parse", "HEAD")
