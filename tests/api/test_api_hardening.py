"""Holes an outside probe found in the write API, closed and kept closed, through real HTTP on real repositories.

- A write never follows a symbolic link out of `content/`: a link anywhere in the target's path (the file,
  a section or course folder, a media record) is 409 `symlink`, naming the file; nothing is read through
  the link, nothing written, nothing of the outside file reaches the answer or the public.
- JSON bodies: nesting deeper than 32 levels is 400 on every route, duplicate keys are 422, and a route
  that takes a JSON body refuses any other media type (415).
- `If-Match: *` and lists of versions succeed when they name the current one (RFC 9110 §13.1.1).
- Slugs Windows reserves as file names (`con`, `aux`, …) are 422.
- A markdown body over CMS_MAX_MARKDOWN_MB is 413 before anything is parsed or the write lock taken.

Every refusal leaves git, the files and the index as they were.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.register_assert_rewrite("tests.admin_api")

from cms.accounts import Role  # noqa: E402
from cms.content import Kind  # noqa: E402
from cms.errors import ConfigError, TooLarge  # noqa: E402
from cms.repo.commits import Identity  # noqa: E402
from cms.repo.repository import GitRepo  # noqa: E402
from cms.settings import Settings  # noqa: E402
from cms.write import journal, operations  # noqa: E402
from cms.write.operations import Workspace  # noqa: E402
from tests.admin_api import BASE, AdminSite, Starter, assert_problem  # noqa: E402
from tests.conftest import git  # noqa: E402

pytest_plugins = ["tests.admin_api"]

COURSE = "intro-to-testing"
LESSON_DIR = f"courses/{COURSE}/01-basics"
PROJECT_FILE = "projects/test-dashboard.md"
MARKER = "OUTSIDE-SECRET-7f3a"
OUTSIDE_LESSON = f"---\ntitle: Planted\ntype: text\nstatus: draft\n---\n{MARKER} lives outside the content.\n"
OUTSIDE_SECTION = "---\ntitle: Elsewhere\n---\n"
OUTSIDE_RECORD = (f"public_id: test/planted\nresource_type: image\nformat: png\nalt: {MARKER}\n"
                  "secure_url: https://res.cloudinary.com/demo/image/upload/v1/test/planted.png\n")
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files outside the repository that planted links point at: a lesson, a section folder, a media record."""
    folder = tmp_path / "outside"
    (folder / "section").mkdir(parents=True)
    (folder / "lesson.md").write_text(OUTSIDE_LESSON)
    (folder / "record.yml").write_text(OUTSIDE_RECORD)
    (folder / "section" / "section.md").write_text(OUTSIDE_SECTION)
    (folder / "section" / "01-secret.md").write_text(OUTSIDE_LESSON)
    return folder


def plant(repo: Path, link: str, target: Path) -> None:
    """A committed symbolic link at `content/<link>` to `target`, as someone might push one."""
    path = repo / "content" / link
    path.symlink_to(target)
    git(repo, "add", "--", f"content/{link}")
    git(repo, "commit", "--quiet", "--message", f"Plant {link}")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def send(site: AdminSite, method: str, path: str, if_match: str | None, payload: Any = None,
         role: Role | None = Role.ADMIN) -> httpx.Response:
    """A request with `If-Match` exactly as given (`*`, a list, a quoted version)."""
    headers = {"If-Match": if_match} if if_match is not None else {}
    return site.request(method, path, role=role, headers=headers, **({} if payload is None else {"json": payload}))


def assert_refused_link(response: httpx.Response, file: str) -> None:
    """409 `symlink` naming `file`, and nothing of the outside files in the answer."""
    body = assert_problem(response, 409, "symlink")
    assert [error["file"] for error in body["errors"]] == [f"content/{file}"], body
    assert body["errors"][0]["rule"] == "symlink"
    assert MARKER not in response.text and "root:" not in response.text


# --- symbolic links ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["passwd", "outside"])
def test_no_write_follows_a_linked_lesson_file(fresh_repo: Path, start: Starter, outside: Path, name: str) -> None:
    target = Path("/etc/passwd") if name == "passwd" else outside / "lesson.md"
    link, before = f"{LESSON_DIR}/09-{name}.md", target.read_bytes()
    plant(fresh_repo, link, target)
    with start() as site:
        head, version = site.head(), site.git("rev-parse", f"HEAD:content/{link}")
        path = f"/courses/{COURSE}/lessons/{name}"
        for method, route, payload in (("PATCH", f"{path}/publish", {"published": True}),
                                       ("PUT", path, {"title": "Mine", "type": "text", "status": "published"}),
                                       ("POST", f"{path}/videos", {"url": "https://v.example.com/a.mp4"}),
                                       ("DELETE", path, None)):
            for if_match in (f'"{version}"', "*"):
                assert_refused_link(send(site, method, route, if_match, payload), link)
        assert os.readlink(site.content / link) == str(target) and target.read_bytes() == before
        assert site.head() == head and site.status() == ""
        for role in (None, Role.ADMIN):
            response = site.read(path, role)
            assert_problem(response, 404)
            assert MARKER not in response.text


def test_no_write_enters_a_linked_section_folder(fresh_repo: Path, start: Starter, outside: Path) -> None:
    """The folder link is named; lessons behind it are never looked for (404, as they are not in the content)."""
    link, before = f"courses/{COURSE}/03-elsewhere", snapshot(outside)
    plant(fresh_repo, link, outside / "section")
    with start() as site:
        head = site.head()
        course_version = site.blob(f"courses/{COURSE}/course.md")
        planted = {"slug": "planted", "section": "elsewhere", "title": "Planted", "type": "text"}
        for method, path, if_match, payload in [
                ("POST", f"/courses/{COURSE}/lessons", None, planted),
                ("POST", f"/courses/{COURSE}/lessons/bulk", None, [planted]),
                ("PUT", f"/courses/{COURSE}/sections/elsewhere", "*", {"title": "Mine"}),
                ("PATCH", f"/courses/{COURSE}/sections/elsewhere/publish", "*", {"published": True}),
                ("DELETE", f"/courses/{COURSE}/sections/elsewhere", "*", None),
                ("DELETE", f"/courses/{COURSE}", f'"{course_version}"', None)]:
            response = send(site, method, path, if_match, payload)
            assert_refused_link(response, link)
            assert "is a symbolic link" in response.json()["detail"], (method, path)
        lesson = f"/courses/{COURSE}/lessons/secret"
        for method, path, payload in [("PATCH", f"{lesson}/publish", {"published": True}),
                                      ("PUT", lesson, {"title": "Mine", "type": "text"}), ("DELETE", lesson, None)]:
            response = send(site, method, path, "*", payload)
            assert_problem(response, 404)
            assert MARKER not in response.text
        assert snapshot(outside) == before and os.readlink(site.content / link) == str(outside / "section")
        assert site.head() == head and site.status() == ""


def test_a_linked_media_record_is_never_edited(fresh_repo: Path, start: Starter, outside: Path) -> None:
    plant(fresh_repo, "media/planted.yml", outside / "record.yml")
    with start() as site:
        head, version = site.head(), site.git("rev-parse", "HEAD:content/media/planted.yml")
        for if_match in (f'"{version}"', "*"):
            assert_refused_link(send(site, "PATCH", "/media/planted", if_match, {"alt": "Mine"}), "media/planted.yml")
        assert (outside / "record.yml").read_text() == OUTSIDE_RECORD
        assert site.head() == head and site.status() == ""


# --- JSON bodies ------------------------------------------------------------------------------------------

def nested(levels: int) -> bytes:
    """An object whose `tech_stack` holds arrays `levels - 1` deep: the whole body nests `levels` levels."""
    return b'{"title": "X", "tech_stack": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


JSON_ROUTES: list[tuple[str, str, Role | None]] = [
    ("POST", "/courses", Role.ADMIN),
    ("POST", "/projects/bulk", Role.ADMIN),
    ("PUT", "/projects/test-dashboard", Role.ADMIN),
    ("PATCH", "/projects/test-dashboard/publish", Role.ADMIN),
    ("POST", f"/courses/{COURSE}/lessons/first-test/videos", Role.ADMIN),
    ("PATCH", "/media/testing-cover", Role.ADMIN),
    ("POST", "/users", Role.ADMIN),
    ("POST", "/ai/drafts", Role.ADMIN),
    ("PATCH", "/auth/password", Role.USER),
    ("POST", "/auth/login", None),
]


def test_deeply_nested_json_is_400_on_every_route(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    text = (site.content / PROJECT_FILE).read_text()
    for method, path, role in JSON_ROUTES:
        for body in (b"[" * 1000 + b"]" * 1000, b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", nested(33)):
            response = site.request(method, path, role=role, content=body, headers={**JSON, "If-Match": "*"})
            problem = assert_problem(response, 400)
            assert "nested more than 32 levels" in problem["detail"], (method, path, problem)
    assert (site.content / PROJECT_FILE).read_text() == text
    assert site.head() == head and site.status() == ""
    # 32 levels pass the depth check and meet the usual validation instead
    response = site.request("POST", "/projects", content=nested(32).replace(b"{", b'{"slug": "deep", ', 1),
                            headers=JSON)
    assert {error["rule"] for error in assert_problem(response, 422)["errors"]} == {"schema"}


def json_body_routes(site: AdminSite) -> list[tuple[str, str]]:
    """Every (method, path) whose handler takes a JSON body, path parameters filled in."""
    values = {"course": COURSE, "project": "test-dashboard", "path": "data-path", "section": "basics",
              "lesson": "first-test", "index": "0", "media_id": "testing-cover", "user_id": "1"}
    found = []
    for route in site.client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "data" in handler.parsed_fn_signature.parameters:
                path = re.sub(r"\{(\w+):\w+\}", lambda match: values[match.group(1)], route.path)
                found += [(method, path) for method in sorted(handler.http_methods)]
    return found


def test_a_json_route_refuses_other_media_types_with_415(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    routes = json_body_routes(site)
    assert len(routes) >= 25 and ("PATCH", f"{BASE}/auth/password") in routes
    for method, path in routes:
        for media_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded", None):
            headers = {**site.auth(Role.ADMIN), "If-Match": "*", **({"Content-Type": media_type} if media_type else {})}
            response = site.client.request(method, path, content=b'{"title": "Changed", "published": true}',
                                           headers=headers)
            problem = assert_problem(response, 415)
            assert "application/json" in problem["detail"], (method, path, media_type)
    assert site.head() == head and site.status() == ""


DUPLICATES: list[tuple[str, str, Role | None, bytes, str]] = [
    ("PUT", "/projects/test-dashboard", Role.ADMIN,
     b'{"title": "Test dashboard", "status": "published", "status": "draft"}', "status"),
    ("POST", "/projects", Role.ADMIN, b'{"slug": "twice", "title": "X", "slug": "other"}', "slug"),
    ("PATCH", "/projects/test-dashboard/publish", Role.ADMIN, b'{"published": false, "published": true}', "published"),
    ("POST", "/projects/bulk", Role.ADMIN, b'[{"slug": "a", "title": "A"}, {"slug": "b", "title": "B", "title": "C"}]',
     "title"),
    ("POST", f"/courses/{COURSE}/lessons/first-test/videos", Role.ADMIN,
     b'{"url": "https://v.example.com/a.mp4", "extra": {"url": 1, "url": 2}}', "url"),
    ("POST", "/auth/login", None, b'{"username": "ada", "username": "moe", "password": "x"}', "username"),
    ("PATCH", "/auth/password", Role.USER,
     b'{"current_password": "a", "current_password": "b", "new_password": "c"}', "current_password"),
]


def test_duplicate_json_keys_are_422_and_nothing_is_written(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    text, entry = (site.content / PROJECT_FILE).read_text(), site.read("/projects/test-dashboard").json()
    for method, path, role, body, key in DUPLICATES:
        response = site.request(method, path, role=role, content=body, headers={**JSON, "If-Match": "*"})
        problem = assert_problem(response, 422)
        assert [error["key"] for error in problem["errors"]] == [key], (method, path, problem)
        assert "more than once" in problem["errors"][0]["message"]
    assert (site.content / PROJECT_FILE).read_text() == text
    assert site.head() == head and site.status() == ""
    assert site.read("/projects/test-dashboard").json() == entry
    siblings = b'[{"slug": "one", "title": "One"}, {"slug": "two", "title": "Two"}]'
    assert site.request("POST", "/projects/bulk", content=siblings, headers=JSON).status_code == 201


# --- If-Match ---------------------------------------------------------------------------------------------

def test_if_match_star_and_lists_name_the_current_version(admin_site: AdminSite) -> None:
    site, stale = admin_site, "0123456789abcdef0123456789abcdef01234567"
    edits = iter(range(100))

    def put(if_match: str) -> httpx.Response:
        return send(site, "PUT", "/projects/test-dashboard", if_match, {"title": f"Edit {next(edits)}"})

    for header in ("*", f'"{stale}", "{{current}}"', f'"{stale}",W/"{{current}}"', 'W/"{current}"'):
        head = site.head()
        response = put(header.format(current=site.blob(PROJECT_FILE)))
        assert response.status_code == 200, (header, response.text)
        assert site.git("rev-parse", "HEAD~1") == head
    for header in (f'"{stale}", W/"{stale[::-1]}"', f'"{stale}" , ""', "**"):
        head, text = site.head(), (site.content / PROJECT_FILE).read_text()
        assert_problem(put(header), 412, "stale-version")
        assert site.head() == head and (site.content / PROJECT_FILE).read_text() == text
    lines = [("Authorization", f"Bearer {site.tokens['ada']}"), ("If-Match", f'"{stale}"'),
             ("If-Match", f'"{site.blob(PROJECT_FILE)}"')]
    response = site.client.request("PATCH", f"{BASE}/projects/test-dashboard/publish", headers=lines,
                                   json={"published": True})
    assert response.status_code == 200, response.text
    response = send(site, "DELETE", f"/courses/{COURSE}/lessons/check-yourself", "*")
    assert response.status_code == 200 and site.status() == ""


# --- Windows file names -----------------------------------------------------------------------------------

RESERVED = ["con", "aux", "nul", "prn", "com1", "com9", "lpt1", "lpt9"]


def test_slugs_windows_reserves_are_422(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    for slug in RESERVED:
        for path, extra in (("/projects", {}), ("/courses", {}), ("/paths", {"courses": [COURSE]}),
                            (f"/courses/{COURSE}/sections", {}), (f"/courses/{COURSE}/lessons", {"section": "basics"})):
            response = site.request("POST", path, json={"slug": slug, "title": "X", **extra})
            problem = assert_problem(response, 422)
            assert [(e["rule"], e["field"]) for e in problem["errors"]] == [("reserved-name", "slug")], problem
            assert "Windows" in problem["errors"][0]["message"]
    assert site.head() == head and site.status() == ""
    fine = [{"slug": slug, "title": slug} for slug in ("console", "com10", "lpt", "con-1", "auxiliary")]
    assert site.request("POST", "/projects/bulk", json=fine).status_code == 201


# --- the markdown cap -------------------------------------------------------------------------------------

MB = 1024 * 1024


def test_a_markdown_body_over_the_cap_is_413_before_the_write_lock(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    huge = "x" * MB + "\n"
    cases = [("POST", "/projects", {"slug": "huge", "title": "Huge", "body": huge}),
             ("POST", "/projects/bulk", [{"slug": "ok", "title": "S"}, {"slug": "huge", "title": "H", "body": huge}]),
             ("PUT", "/projects/test-dashboard", {"title": "Huge", "body": huge})]
    answers: list[httpx.Response] = []
    with journal.exclusive(GitRepo.open(site.content)):  # a write that waited for the lock would never answer
        worker = threading.Thread(target=lambda: answers.extend(send(site, m, p, "*", b) for m, p, b in cases))
        worker.start()
        worker.join(timeout=60)
        answered = not worker.is_alive()
    worker.join()
    assert answered, "the write waited for the lock"
    for response in answers:
        problem = assert_problem(response, 413, "too-large")
        assert [error["field"] for error in problem["errors"]] == ["body"]
        assert "CMS_MAX_MARKDOWN_MB" in problem["detail"]
    assert site.head() == head and site.status() == ""


def test_the_cap_counts_utf8_bytes(space: Workspace) -> None:
    capped = Workspace(tree=space.tree, db_path=space.db_path, max_markdown_bytes=100)
    author = Identity(name="Ada Admin", email="ada@example.com")
    with pytest.raises(TooLarge):
        operations.create(capped, Kind.PROJECT, (), {"slug": "over", "title": "Over", "body": "é" * 51}, author)
    written = operations.create(capped, Kind.PROJECT, (), {"slug": "at", "title": "At", "body": "é" * 49 + "\n"},
                             author)
    assert written.version is not None


def test_the_markdown_cap_is_a_documented_setting() -> None:
    assert Settings.from_env({}).max_markdown_mb == 1
    assert Settings.from_env({"CMS_MAX_MARKDOWN_MB": "0.5"}).max_markdown_mb == 0.5
    with pytest.raises(ConfigError, match="CMS_MAX_MARKDOWN_MB"):
        Settings.from_env({"CMS_MAX_MARKDOWN_MB": "0"})
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "| `CMS_MAX_MARKDOWN_MB` | `1` |" in readme
