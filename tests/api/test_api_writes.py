"""The admin write API through HTTP on real repositories: every route, what each write leaves in git, refusals.

Each write is checked from the outside: the status, the answer's entry,
version and commit, the `ETag`, the version against `git hash-object`, the
commit's author and message, `Cache-Control: no-store`, a clean working
tree, and a read right after through the public routes (anonymous for
published entries; drafts only with a staff token, answered privately).
Refused writes must leave the repository exactly as it was: no file, no
commit, nothing staged. Push, webhook and races have their own modules.

Every test runs twice: with the index on SQLite and on a real Postgres (`CMS_DATABASE_URL`), with the
same expectations.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

pytest.register_assert_rewrite("tests.admin_api")

from cms.accounts import Role  # noqa: E402
from cms.repo.commits import Identity, commit_paths  # noqa: E402
from cms.repo.repository import GitRepo  # noqa: E402
from cms.write import journal  # noqa: E402
from tests.admin_api import (  # noqa: E402
    ADA,
    DASH,
    MOE,
    SECRET,
    AdminSite,
    Person,
    Starter,
    Workbench,
    assert_problem,
    backend_workbench,
    run_git,
)
from tests.api_server import BACKENDS  # noqa: E402

pytest_plugins = ["tests.admin_api"]


@pytest.fixture(scope="module", params=BACKENDS)
def workbench(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    """The module's workbench with its index on SQLite, then on Postgres."""
    with backend_workbench(request.param, tmp_path_factory.mktemp(f"admin-{request.param}"), request) as bench:
        yield bench

PERSON = {Role.ADMIN: ADA, Role.MODERATOR: MOE}
COURSE = "intro-to-testing"
PROJECT_FILE = "projects/test-dashboard.md"
LESSON_FILE = "courses/intro-to-testing/01-basics/02-first-test.md"


@dataclass(frozen=True)
class Kind:
    """One kind of entry: where its routes are, where its files go, and bodies that validate."""

    name: str
    base: str
    """The collection route (POST, bulk); an entry is `{base}/{slug}`."""
    read_base: str
    """The public read route of the collection; an entry reads at `{read_base}/{slug}`."""
    file: str
    """Content-relative path of a new entry, `{slug}` filled in."""
    label: str
    """How commit messages name an entry, `{slug}` filled in."""
    create: dict[str, Any]
    replace: dict[str, Any]
    bulk_files: tuple[str, str]

    def path(self, slug: str) -> str:
        return self.file.format(slug=slug)


KINDS = [
    Kind("course", "/courses", "/courses", "courses/{slug}/course.md", "{slug}",
         {"title": "New course", "description": "Short.", "instructor": "grace-tester", "category": "testing",
          "tags": ["pytest"], "difficulty_level": "beginner", "body": "The long description.\n"},
         {"title": "Renamed course", "difficulty_level": "advanced", "price": 10, "currency": "EUR",
          "body": "## Rewritten\n\nAll new."},
         ("courses/bulk-one/course.md", "courses/bulk-two/course.md")),
    Kind("section", f"/courses/{COURSE}/sections", f"/courses/{COURSE}/sections",
         f"courses/{COURSE}/03-{{slug}}/section.md", f"{COURSE}/{{slug}}",
         {"title": "New section", "description": "More practice."},
         {"title": "Renamed section", "body": "A section body.\n"},
         (f"courses/{COURSE}/03-bulk-one/section.md", f"courses/{COURSE}/04-bulk-two/section.md")),
    Kind("lesson", f"/courses/{COURSE}/lessons", f"/courses/{COURSE}/lessons",
         f"courses/{COURSE}/01-basics/03-{{slug}}.md", f"{COURSE}/{{slug}}",
         {"title": "New lesson", "section": "basics", "type": "text", "duration_minutes": 4,
          "objectives": ["Write one"], "body": "## Steps\n\nFirst, [why](../01-basics/01-why-test.md).\n"},
         {"title": "Renamed lesson", "type": "pdf", "pdf_url": "https://files.example.com/new.pdf",
          "body": "Now a PDF.\n"},
         (f"courses/{COURSE}/02-practice/03-bulk-one.md", f"courses/{COURSE}/02-practice/04-bulk-two.md")),
    Kind("project", "/projects", "/projects", "projects/{slug}.md", "{slug}",
         {"title": "New project", "client_name": "Client", "project_type": "web", "featured": True,
          "tech_stack": ["Python"], "thumbnail": "testing-cover", "github_url": "https://github.com/example/new",
          "body": "## The detail\n\nWhat we built.\n"},
         {"title": "Renamed project", "live_demo_url": "https://demo.example.com", "body": "## Detail v2\n"},
         ("projects/bulk-one.md", "projects/bulk-two.md")),
    Kind("path", "/paths", "/paths", "paths/{slug}.md", "{slug}",
         {"title": "New path", "description": "Start here.", "courses": [COURSE, "advanced-testing"],
          "body": "Two courses.\n"},
         {"title": "Renamed path", "courses": [COURSE], "body": "One course.\n"},
         ("paths/bulk-one.md", "paths/bulk-two.md")),
]
KIND = {kind.name: kind for kind in KINDS}


def last_commit(site: AdminSite) -> tuple[str, str]:
    """(`author|email`, full message) of HEAD."""
    return site.git("log", "-1", "--format=%an|%ae"), site.git("log", "-1", "--format=%B")


def changed_files(site: AdminSite) -> list[str]:
    return sorted(site.git("show", "--name-only", "--format=", "HEAD").splitlines())


def assert_committed(site: AdminSite, response: httpx.Response, before: int, person: Person, message: str,
                     files: list[str]) -> None:
    """One new commit, by `person`, with `message`, touching exactly `files`; the tree clean; no-store."""
    assert site.count() == before + 1
    assert last_commit(site) == (person.author, message)
    assert changed_files(site) == sorted(f"content/{path}" for path in files)
    assert site.status() == ""
    assert response.headers["cache-control"] == "no-store"


def assert_written(site: AdminSite, response: httpx.Response, status: int, path: str, before: int,
                   person: Person, message: str, files: list[str] | None = None) -> dict[str, Any]:
    """A write that left `path` in place: the answer matches the file on disk, HEAD and the commit."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"entry", "version", "commit"}
    assert body["version"] == site.blob(path) == site.git("rev-parse", f"HEAD:content/{path}")
    assert response.headers["etag"] == f'"{body["version"]}"'
    assert body["commit"] == site.head()
    assert body["entry"]["version"] == body["version"]
    assert_committed(site, response, before, person, message, files or [path])
    return body


def assert_deleted(site: AdminSite, response: httpx.Response, before: int, person: Person, message: str,
                   files: list[str]) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"entry": None, "version": None, "commit": site.head()}
    assert "etag" not in response.headers
    for path in files:
        assert not (site.content / path).exists()
    assert_committed(site, response, before, person, message, files)


def assert_unchanged(site: AdminSite, head: str, status: str = "") -> None:
    """Nothing written, staged or committed."""
    assert site.head() == head
    assert site.status() == status


def read_as_staff(site: AdminSite, path: str) -> dict[str, Any]:
    """What ADMIN and MODERATOR tokens read at `path` (the same), answered privately."""
    bodies = []
    for role in (Role.ADMIN, Role.MODERATOR):
        response = site.read(path, role)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "private, no-store"
        bodies.append(response.json())
    assert bodies[0] == bodies[1]
    return bodies[0]


def assert_hidden(site: AdminSite, path: str) -> None:
    """Only staff read `path`: anonymous and USER readers get the 404 of a missing entry."""
    assert_problem(site.read(path), 404)
    assert_problem(site.read(path, Role.USER), 404)


def listed(site: AdminSite, path: str, role: Role | None = None) -> list[str]:
    """The slugs a list route answers (a page's items, or a plain list)."""
    response = site.read(path, role)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"].startswith("private, no-store" if role else "public, max-age=")
    body = response.json()
    return [item["slug"] for item in (body["items"] if isinstance(body, dict) else body)]


def assert_public(site: AdminSite, path: str, version: str) -> dict[str, Any]:
    response = site.read(path)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert response.json()["version"] == version
    return response.json()


# --- every route of every kind -----------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.ADMIN, Role.MODERATOR], ids=["admin", "moderator"])
@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_create_replace_publish_unpublish_delete_and_bulk(admin_site: AdminSite, kind: Kind, role: Role) -> None:
    site, person, slug = admin_site, PERSON[role], f"new-{kind.name}"
    path, label, item, read = kind.path(slug), kind.label.format(slug=slug), f"{kind.base}/{slug}", \
        f"{kind.read_base}/{slug}"

    before = site.count()
    response = site.request("POST", kind.base, role, json={"slug": slug, "status": "draft", **kind.create})
    body = assert_written(site, response, 201, path, before, person, f"Create {kind.name} {label}")
    assert body["entry"]["slug"] == slug and body["entry"]["status"] == "draft"
    assert body["entry"] == read_as_staff(site, read), "the answer's entry is what the read route shows"
    assert_hidden(site, read)
    assert slug in listed(site, kind.read_base, Role.MODERATOR) and slug not in listed(site, kind.read_base)
    written = (site.content / path).read_text()
    assert written.startswith("---\n") and "\ntitle: New " in written
    assert "\nslug:" not in written and "\nbody:" not in written and "\nsection:" not in written

    before = site.count()
    response = site.request("PUT", item, role, version=body["version"], json=kind.replace)
    body = assert_written(site, response, 200, path, before, person, f"Update {kind.name} {label}")
    assert body["entry"]["title"] == kind.replace["title"]
    assert body["entry"] == read_as_staff(site, read)
    assert (site.content / path).read_text().endswith(kind.replace["body"].rstrip("\n") + "\n")
    assert "New " not in (site.content / path).read_text(), "PUT replaces every field"

    before = site.count()
    response = site.request("PATCH", f"{item}/publish", role, version=body["version"], json={"published": True})
    body = assert_written(site, response, 200, path, before, person, f"Publish {kind.name} {label}")
    assert body["entry"]["status"] == "published"
    assert assert_public(site, read, body["version"])["title"] == kind.replace["title"]
    assert slug in listed(site, kind.read_base)

    before = site.count()
    response = site.request("PATCH", f"{item}/publish", role, version=body["version"], json={"published": False})
    body = assert_written(site, response, 200, path, before, person, f"Unpublish {kind.name} {label}")
    assert body["entry"]["status"] == "draft" and read_as_staff(site, read)["status"] == "draft"
    assert_hidden(site, read)

    before = site.count()
    response = site.request("DELETE", item, role, version=body["version"])
    assert_deleted(site, response, before, person, f"Delete {kind.name} {label}", [path])
    assert_problem(site.read(read, Role.ADMIN), 404)

    before = site.count()
    extra = {"section": "practice"} if kind.name == "lesson" else {}
    bulk = [{**kind.create, **extra, "slug": "bulk-one", "status": "published", "body": "Bulk.\n"},
            {**kind.create, **extra, "slug": "bulk-two", "title": "Second", "status": "draft"}]
    response = site.request("POST", f"{kind.base}/bulk", role, json=bulk)
    assert response.status_code == 201, response.text
    assert_committed(site, response, before, person, f"Create 2 {kind.name}s", list(kind.bulk_files))
    answers = response.json()
    assert [answer["entry"]["slug"] for answer in answers] == ["bulk-one", "bulk-two"]
    assert [answer["version"] for answer in answers] == [site.blob(path) for path in kind.bulk_files]
    assert {answer["commit"] for answer in answers} == {site.head()}
    assert read_as_staff(site, f"{kind.read_base}/bulk-one") == answers[0]["entry"]
    assert_public(site, f"{kind.read_base}/bulk-one", answers[0]["version"])
    assert read_as_staff(site, f"{kind.read_base}/bulk-two") == answers[1]["entry"]
    assert_hidden(site, f"{kind.read_base}/bulk-two")


def test_names_that_look_like_git_options_are_only_names(admin_site: AdminSite) -> None:
    site, head, before = admin_site, admin_site.head(), admin_site.count()
    response = site.request("POST", "/projects", DASH, json={"slug": "dashed", "title": "--version"})
    assert_written(site, response, 201, "projects/dashed.md", before, DASH, "Create project dashed")
    assert site.git("rev-parse", "HEAD~1") == head, "nothing was amended"
    assert site.git("log", "-1", "--format=%an") == DASH.full_name


def test_text_that_looks_like_yaml_or_front_matter_is_stored_as_text(admin_site: AdminSite) -> None:
    site = admin_site
    fields = {"title": "---\nstatus: published\n# not: a comment", "description": "a: b, [c], {d: e}, &f *g !!h",
              "client_name": "yes", "project_type": "null", "tech_stack": ["- a", "'quoted'", "true", "~"]}
    response = site.request("POST", "/projects", json={"slug": "tricky", **fields,
                                                       "body": "---\ntitle: Fake\nstatus: published\n---\nBody"})
    assert response.status_code == 201, response.text
    entry = read_as_staff(site, "/projects/tricky")
    assert {key: entry[key] for key in fields} == fields
    assert entry["status"] == "draft" and "Fake" in entry["html"]
    assert_hidden(site, "/projects/tricky")


def test_sections_and_lessons_take_an_order_or_go_last(admin_site: AdminSite) -> None:
    site = admin_site
    response = site.request("POST", f"/courses/{COURSE}/sections", json={"slug": "early", "title": "E", "order": 9})
    assert response.status_code == 201, response.text
    assert (site.content / f"courses/{COURSE}/09-early/section.md").is_file()
    response = site.request("POST", f"/courses/{COURSE}/sections", json={"slug": "late", "title": "L"})
    assert response.status_code == 201 and (site.content / f"courses/{COURSE}/10-late/section.md").is_file()
    response = site.request("POST", f"/courses/{COURSE}/lessons",
                            json={"slug": "zeroth", "title": "Z", "section": "late", "order": 5})
    assert response.status_code == 201 and response.json()["entry"]["order"] == 5
    lessons = site.read(f"/courses/{COURSE}/lessons?section=late").json()["items"]
    assert [lesson["slug"] for lesson in lessons] == ["zeroth"]
    assert [s["slug"] for s in site.read(f"/courses/{COURSE}/sections").json()["items"]] == \
        ["basics", "practice", "early", "late"]


def test_video_snippets_are_added_replaced_and_removed(admin_site: AdminSite) -> None:
    site, lesson = admin_site, f"/courses/{COURSE}/lessons/first-test"
    version = site.version_of(lesson)
    snippet = {"url": "https://videos.example.com/extra.mp4", "description": "Extra", "start_time_seconds": 5,
               "end_time_seconds": 50, "media": "demo-video"}

    before = site.count()
    response = site.request("POST", f"{lesson}/videos", version=version, json=snippet)
    body = assert_written(site, response, 201, LESSON_FILE, before, ADA,
                          f"Add a video to lesson {COURSE}/first-test")
    public = assert_public(site, lesson, body["version"])
    assert public == body["entry"]
    assert [v["url"] for v in public["videos"]][-1] == snippet["url"] and public["video_count"] == 3
    assert public["videos"][-1]["duration_seconds"] == 45

    before = site.count()
    response = site.request("PUT", f"{lesson}/videos/0", version=body["version"],
                            json={"url": "https://videos.example.com/replaced.mp4", "end_time_seconds": 30})
    body = assert_written(site, response, 200, LESSON_FILE, before, ADA,
                          f"Update video 0 of lesson {COURSE}/first-test")
    videos = assert_public(site, lesson, body["version"])["videos"]
    assert [(v["url"].rsplit("/", 1)[1], v["end_time_seconds"]) for v in videos] == \
        [("replaced.mp4", 30), ("first-test.mp4", 95), ("extra.mp4", 50)]
    assert videos[0]["description"] is None, "PUT replaces the whole snippet"

    before = site.count()
    response = site.request("DELETE", f"{lesson}/videos/1", version=body["version"])
    body = assert_written(site, response, 200, LESSON_FILE, before, ADA,
                          f"Remove video 1 of lesson {COURSE}/first-test")
    videos = assert_public(site, lesson, body["version"])["videos"]
    assert [v["url"].rsplit("/", 1)[1] for v in videos] == ["replaced.mp4", "extra.mp4"]
    assert "```python" in (site.content / LESSON_FILE).read_text(), "the lesson's body is kept"


def test_deleting_a_section_deletes_its_lessons_in_one_commit(admin_site: AdminSite) -> None:
    site = admin_site
    section = f"/courses/{COURSE}/sections/practice"
    before = site.count()
    response = site.request("DELETE", section, version=site.version_of(section))
    folder = f"courses/{COURSE}/02-practice"
    assert_deleted(site, response, before, ADA, f"Delete section {COURSE}/practice",
                   [f"{folder}/section.md", f"{folder}/01-cheat-sheet.md", f"{folder}/02-check-yourself.md"])
    assert not (site.content / folder).exists()
    for gone in (section, f"/courses/{COURSE}/lessons/cheat-sheet", f"/courses/{COURSE}/lessons/check-yourself"):
        assert_problem(site.read(gone, Role.ADMIN), 404)
    outline = site.read(f"/courses/{COURSE}").json()
    assert [s["slug"] for s in outline["sections"]] == ["basics"] and outline["lesson_count"] == 2


def test_deleting_a_course_deletes_everything_in_it(admin_site: AdminSite) -> None:
    site = admin_site
    assert site.request("POST", "/courses", json={"slug": "doomed", "title": "Doomed"}).status_code == 201
    assert site.request("POST", "/courses/doomed/sections", json={"slug": "only", "title": "Only"}).status_code == 201
    response = site.request("POST", "/courses/doomed/lessons", json={"slug": "one", "title": "One", "section": "only"})
    assert response.status_code == 201, response.text
    before = site.count()
    response = site.request("DELETE", "/courses/doomed", version=site.version_of("/courses/doomed"))
    assert_deleted(site, response, before, ADA, "Delete course doomed",
                   ["courses/doomed/course.md", "courses/doomed/01-only/section.md",
                    "courses/doomed/01-only/01-one.md"])
    assert not (site.content / "courses/doomed").exists()
    assert_problem(site.read("/courses/doomed/lessons/one", Role.ADMIN), 404)


def test_deleting_what_others_refer_to_is_refused(admin_site: AdminSite) -> None:
    """The path and a prerequisite name intro-to-testing: deleting it would leave references to nothing."""
    site, head = admin_site, admin_site.head()
    response = site.request("DELETE", f"/courses/{COURSE}", version=site.version_of(f"/courses/{COURSE}"))
    body = assert_problem(response, 422, "invalid-content")
    assert {error["rule"] for error in body["errors"]} == {"reference"}
    assert (site.content / f"courses/{COURSE}/course.md").is_file()
    assert_unchanged(site, head)


# --- If-Match ---------------------------------------------------------------------------------------------

CONDITIONAL = [
    ("PUT", "/projects/test-dashboard", PROJECT_FILE, {"title": "Changed"}),
    ("PATCH", "/projects/test-dashboard/publish", PROJECT_FILE, {"published": False}),
    ("DELETE", "/projects/test-dashboard", PROJECT_FILE, None),
    ("PUT", f"/courses/{COURSE}", f"courses/{COURSE}/course.md", {"title": "Changed"}),
    ("PUT", f"/courses/{COURSE}/sections/basics", f"courses/{COURSE}/01-basics/section.md", {"title": "Changed"}),
    ("DELETE", f"/courses/{COURSE}/lessons/check-yourself", f"courses/{COURSE}/02-practice/02-check-yourself.md",
     None),
    ("PATCH", "/paths/testing-path/publish", "paths/testing-path.md", {"published": False}),
    ("POST", f"/courses/{COURSE}/lessons/first-test/videos", LESSON_FILE, {"url": "https://v.example.com/x.mp4"}),
    ("PUT", f"/courses/{COURSE}/lessons/first-test/videos/0", LESSON_FILE, {"url": "https://v.example.com/x.mp4"}),
    ("DELETE", f"/courses/{COURSE}/lessons/first-test/videos/0", LESSON_FILE, None),
]


def test_conditional_writes_need_the_current_version(admin_site: AdminSite) -> None:
    """Each conditional route: 428 without If-Match, 412 for a stale one (nothing written), then it works."""
    site = admin_site
    stale = "0123456789abcdef0123456789abcdef01234567"
    for method, path, file, payload in CONDITIONAL:
        head, current, text = site.head(), site.blob(file), (site.content / file).read_text()
        kwargs = {} if payload is None else {"json": payload}
        assert_problem(site.request(method, path, **kwargs), 428, "if-match-required")
        for header in (f'"{stale}"', stale, '""', f'"{current[:7]}"', f'W/"{stale}"'):
            response = site.request(method, path, headers={"If-Match": header}, **kwargs)
            assert_problem(response, 412, "stale-version")
            assert current in response.json()["detail"], "the 412 names the current version"
        assert (site.content / file).read_text() == text, (method, path)
        assert_unchanged(site, head)
        response = site.request(method, path, version=current, **kwargs)
        assert response.status_code in (200, 201), (method, path, response.text)
        assert site.git("rev-parse", "HEAD~1") == head and site.status() == ""


def test_a_version_once_used_is_stale(admin_site: AdminSite) -> None:
    site = admin_site
    first = site.version_of("/projects/test-dashboard")
    response = site.request("PUT", "/projects/test-dashboard", version=first,
                            json={"title": "One", "status": "published"})
    assert response.status_code == 200, response.text
    head = site.head()
    assert_problem(site.request("PUT", "/projects/test-dashboard", version=first, json={"title": "Two"}), 412)
    assert_unchanged(site, head)
    assert site.read("/projects/test-dashboard").json()["title"] == "One"


# --- repository states that forbid a write (409) ----------------------------------------------------------

def start_conflicting_merge(site: AdminSite) -> None:
    """A real `git merge` stopped on a conflict in the project file."""
    target = site.content / PROJECT_FILE
    site.git("checkout", "--quiet", "-b", "theirs")
    target.write_text(target.read_text().replace("title: Test dashboard", "title: Their dashboard"))
    site.git("commit", "--quiet", "--all", "--message", "Their title")
    site.git("checkout", "--quiet", "main")
    target.write_text(target.read_text().replace("title: Test dashboard", "title: Our dashboard"))
    site.git("commit", "--quiet", "--all", "--message", "Our title")
    merge = run_git(site.repo, "merge", "theirs", check=False)
    assert merge.returncode != 0 and (site.repo / ".git/MERGE_HEAD").exists()


def start_stopped_rebase(site: AdminSite) -> None:
    """A real `git rebase` stopped on a conflict (leaves `.git/rebase-merge`)."""
    start_conflicting_merge(site)
    site.git("merge", "--abort")
    rebase = run_git(site.repo, "rebase", "theirs", check=False)
    assert rebase.returncode != 0 and (site.repo / ".git/rebase-merge").is_dir()


def someone_edits(site: AdminSite) -> None:
    target = site.content / PROJECT_FILE
    target.write_text(target.read_text() + "\nSomeone's unsaved work.\n")


def someone_stages(site: AdminSite) -> None:
    someone_edits(site)
    site.git("add", f"content/{PROJECT_FILE}")


def someone_creates(site: AdminSite) -> None:
    (site.content / "projects/brand-new.md").write_text("---\ntitle: Someone's draft\n---\n")


MARKERS = {"MERGE_HEAD": "merge-in-progress", "rebase-merge": "rebase-in-progress",
           "rebase-apply": "rebase-in-progress", "CHERRY_PICK_HEAD": "cherry-pick-in-progress",
           "REVERT_HEAD": "revert-in-progress"}
"""What git leaves in `.git` while an operation waits for a person, and the reason a write gets."""


def assert_busy(site: AdminSite, reason: str, lesson_version: str) -> None:
    """Every kind of write gets 409 with `reason`; nothing is written, staged or committed."""
    head, status = site.head(), site.status()
    project_text = (site.content / PROJECT_FILE).read_text()
    tries = [("POST", "/projects", None, {"slug": "brand-new", "title": "New"}),
             ("POST", "/paths/bulk", None, [{"slug": "p-one", "title": "P", "courses": [COURSE]}]),
             ("PATCH", f"/courses/{COURSE}/lessons/why-test/publish", lesson_version, {"published": False}),
             ("DELETE", f"/courses/{COURSE}/lessons/why-test/videos/0", lesson_version, None)]
    for method, path, if_match, payload in tries:
        response = site.request(method, path, version=if_match, **({} if payload is None else {"json": payload}))
        assert_problem(response, 409, reason)
    assert_unchanged(site, head, status)
    assert (site.content / PROJECT_FILE).read_text() == project_text
    assert not (site.content / "projects/brand-new.md").exists()
    assert ADA.author not in site.git("log", "--all", "--format=%an|%ae")


@pytest.mark.parametrize(("make_state", "reason"), [(start_conflicting_merge, "merge-in-progress"),
                                                    (start_stopped_rebase, "rebase-in-progress")],
                         ids=["merge", "rebase"])
def test_a_real_merge_or_rebase_in_progress_refuses_every_write_with_409(admin_site: AdminSite, make_state: Any,
                                                                          reason: str) -> None:
    version = admin_site.version_of(f"/courses/{COURSE}/lessons/why-test")
    make_state(admin_site)
    assert_busy(admin_site, reason, version)


def test_every_operation_git_leaves_waiting_refuses_writes_with_its_reason(admin_site: AdminSite) -> None:
    site = admin_site
    version = site.version_of(f"/courses/{COURSE}/lessons/why-test")
    for marker, reason in MARKERS.items():
        path = site.repo / ".git" / marker
        if marker.startswith("rebase"):
            path.mkdir()
        else:
            path.write_text(site.head() + "\n")
        assert_busy(site, reason, version)
        path.rmdir() if path.is_dir() else path.unlink()
    response = site.request("PATCH", f"/courses/{COURSE}/lessons/why-test/publish", version=version,
                            json={"published": False})
    assert response.status_code == 200, "with the operation over, writes work again"


@pytest.mark.parametrize("make_state", [someone_edits, someone_stages], ids=["modified", "staged"])
def test_a_target_file_with_someone_elses_changes_is_not_overwritten(admin_site: AdminSite,
                                                                     make_state: Any) -> None:
    site = admin_site
    version = site.version_of("/projects/test-dashboard")
    make_state(site)
    head, status, text = site.head(), site.status(), (site.content / PROJECT_FILE).read_text()
    for method, path, payload in [("PUT", "/projects/test-dashboard", {"title": "Mine"}),
                                  ("PATCH", "/projects/test-dashboard/publish", {"published": False}),
                                  ("DELETE", "/projects/test-dashboard", None)]:
        response = site.request(method, path, version=version, **({} if payload is None else {"json": payload}))
        body = assert_problem(response, 409, "uncommitted-changes")
        assert PROJECT_FILE in body["detail"]
    assert (site.content / PROJECT_FILE).read_text() == text
    assert_unchanged(site, head, status)


def test_deleting_a_section_with_someone_elses_work_inside_is_refused(admin_site: AdminSite) -> None:
    site, section = admin_site, f"/courses/{COURSE}/sections/practice"
    version = site.version_of(section)
    lesson = site.content / f"courses/{COURSE}/02-practice/01-cheat-sheet.md"
    draft = site.content / f"courses/{COURSE}/02-practice/03-someones-draft.md"
    original = lesson.read_text()
    for someone in (lambda: lesson.write_text(original + "More.\n"), lambda: draft.write_text("---\ntitle: D\n---\n")):
        someone()
        head, status = site.head(), site.status()
        assert_problem(site.request("DELETE", section, version=version), 409, "uncommitted-changes")
        assert_unchanged(site, head, status)
        lesson.write_text(original)
        draft.unlink(missing_ok=True)
    assert site.request("DELETE", section, version=version).status_code == 200


def test_an_untracked_file_where_a_create_would_write_is_not_overwritten(admin_site: AdminSite) -> None:
    site = admin_site
    someone_creates(site)
    head, status = site.head(), site.status()
    response = site.request("POST", "/projects", json={"slug": "brand-new", "title": "Mine"})
    assert response.status_code == 409, response.text
    assert (site.content / "projects/brand-new.md").read_text() == "---\ntitle: Someone's draft\n---\n"
    assert_unchanged(site, head, status)


def test_someone_elses_staged_work_on_other_files_stays_theirs(admin_site: AdminSite) -> None:
    site = admin_site
    path_file = site.content / "paths/testing-path.md"
    path_file.write_text(path_file.read_text().replace("Become a tester", "Staged by someone"))
    site.git("add", "content/paths/testing-path.md")
    before = site.count()
    response = site.request("POST", "/projects", json={"slug": "mine", "title": "Mine"})
    assert response.status_code == 201, response.text
    assert site.count() == before + 1 and changed_files(site) == ["content/projects/mine.md"]
    assert site.git("diff", "--cached", "--name-only") == "content/paths/testing-path.md"
    assert "Staged by someone" in path_file.read_text()


# --- bad input: 422 (or 400, 404, 409) and nothing written -------------------------------------------------

BAD_PROJECTS = {
    "unknown-field": ({"slug": "x", "title": "X", "colour": "red"}, "unknown-field"),
    "html": ({"slug": "x", "title": "X", "html": "<p>x</p>"}, "unknown-field"),
    "created-at": ({"slug": "x", "title": "X", "created_at": "2024-01-01T00:00:00Z"}, "unknown-field"),
    "updated-at": ({"slug": "x", "title": "X", "updated_at": "2024-01-01T00:00:00Z"}, "unknown-field"),
    "version": ({"slug": "x", "title": "X", "version": "0" * 40}, "unknown-field"),
    "toc": ({"slug": "x", "title": "X", "toc": []}, "unknown-field"),
    "traversal": ({"slug": "../x", "title": "X"}, "slug"),
    "deep-traversal": ({"slug": "../../../../etc/passwd", "title": "X"}, "slug"),
    "encoded": ({"slug": "%2e%2e%2fx", "title": "X"}, "slug"),
    "absolute": ({"slug": "/abs", "title": "X"}, "slug"),
    "nested": ({"slug": "a/b", "title": "X"}, "slug"),
    "upper-case": ({"slug": "Upper", "title": "X"}, "slug"),
    "too-long": ({"slug": "a" * 100, "title": "X"}, "slug"),
    "81-characters": ({"slug": "a" * 81, "title": "X"}, "slug"),
    "leading-hyphen": ({"slug": "-lead", "title": "X"}, "slug"),
    "double-hyphen": ({"slug": "a--b", "title": "X"}, "slug"),
    "trailing-newline": ({"slug": "x\n", "title": "X"}, "slug"),
    "empty-slug": ({"slug": "", "title": "X"}, "slug"),
    "no-slug": ({"title": "X"}, "request"),
    "number-slug": ({"slug": 7, "title": "X"}, "request"),
    "title-too-long": ({"slug": "x", "title": "T" * 256}, "schema"),
    "empty-title": ({"slug": "x", "title": ""}, "schema"),
    "no-title": ({"slug": "x"}, "required"),
    "http-url": ({"slug": "x", "title": "X", "github_url": "http://github.com/example/x"}, "schema"),
    "bad-enum": ({"slug": "x", "title": "X", "status": "archived-ish"}, "schema"),
    "wrong-type": ({"slug": "x", "title": "X", "featured": "yes"}, "schema"),
    "client-too-long": ({"slug": "x", "title": "X", "client_name": "c" * 101}, "schema"),
    "media-missing": ({"slug": "x", "title": "X", "thumbnail": "no-such-media"}, "reference"),
    "body-not-text": ({"slug": "x", "title": "X", "body": ["not", "markdown"]}, "request"),
    "order-on-a-project": ({"slug": "x", "title": "X", "order": 3}, "request"),
    "section-on-a-project": ({"slug": "x", "title": "X", "section": "basics"}, "request"),
}


def test_bad_project_bodies_get_422_and_nothing_is_written(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    for case, (payload, rule) in BAD_PROJECTS.items():
        body = assert_problem(site.request("POST", "/projects", json=payload), 422)
        assert rule in {error["rule"] for error in body["errors"]}, (case, body)
        assert all(error["message"] for error in body["errors"]), case
        assert_unchanged(site, head)
    assert sorted(p.name for p in (site.content / "projects").iterdir()) == ["test-dashboard.md"]
    assert not list(site.repo.parent.rglob("passwd")) and not list(site.repo.parent.rglob("x.md"))


BAD_ELSEWHERE = {
    "lesson-without-section": ("POST", f"/courses/{COURSE}/lessons", None, {"slug": "x", "title": "X"}),
    "lesson-section-traversal": ("POST", f"/courses/{COURSE}/lessons", None,
                                 {"slug": "x", "title": "X", "section": "../01-basics"}),
    "video-lesson-without-videos": ("POST", f"/courses/{COURSE}/lessons", None,
                                    {"slug": "x", "title": "X", "section": "basics", "type": "video"}),
    "duplicate-lesson-slug": ("POST", f"/courses/{COURSE}/lessons", None,
                              {"slug": "why-test", "title": "X", "section": "practice"}),
    "duplicate-section-order": ("POST", f"/courses/{COURSE}/sections", None, {"slug": "x", "title": "X", "order": 1}),
    "order-zero": ("POST", f"/courses/{COURSE}/sections", None, {"slug": "x", "title": "X", "order": 0}),
    "order-as-text": ("POST", f"/courses/{COURSE}/sections", None, {"slug": "x", "title": "X", "order": "2"}),
    "section-on-a-section": ("POST", f"/courses/{COURSE}/sections", None,
                             {"slug": "x", "title": "X", "section": "basics"}),
    "order-on-a-course": ("POST", "/courses", None, {"slug": "x", "title": "X", "order": 2}),
    "unknown-instructor": ("POST", "/courses", None, {"slug": "x", "title": "X", "instructor": "nobody"}),
    "unknown-prerequisite": ("POST", "/courses", None, {"slug": "x", "title": "X", "prerequisites": ["nothing"]}),
    "negative-price": ("POST", "/courses", None, {"slug": "x", "title": "X", "price": -1}),
    "path-to-nowhere": ("POST", "/paths", None, {"slug": "x", "title": "X", "courses": ["no-such-course"]}),
    "path-without-courses": ("POST", "/paths", None, {"slug": "x", "title": "X"}),
    "prerequisite-cycle": ("PUT", f"/courses/{COURSE}", f"courses/{COURSE}/course.md",
                           {"title": "Intro", "status": "published", "prerequisites": ["advanced-testing"]}),
    "put-changes-slug": ("PUT", "/projects/test-dashboard", PROJECT_FILE, {"title": "X", "slug": "other"}),
    "put-moves-lesson": ("PUT", f"/courses/{COURSE}/lessons/why-test", f"courses/{COURSE}/01-basics/01-why-test.md",
                         {"title": "X", "section": "practice"}),
    "put-derived-field": ("PUT", "/projects/test-dashboard", PROJECT_FILE, {"title": "X", "html": "<p>x</p>"}),
    "video-http-url": ("POST", f"/courses/{COURSE}/lessons/first-test/videos", LESSON_FILE, {"url": "http://v.example"}),
    "video-ends-first": ("POST", f"/courses/{COURSE}/lessons/first-test/videos", LESSON_FILE,
                         {"url": "https://v.example.com/a.mp4", "start_time_seconds": 9, "end_time_seconds": 3}),
    "video-unknown-field": ("PUT", f"/courses/{COURSE}/lessons/first-test/videos/0", LESSON_FILE,
                            {"url": "https://v.example.com/a.mp4", "autoplay": True}),
    "bulk-with-one-bad-entry": ("POST", "/projects/bulk", None,
                                [{"slug": "good", "title": "Good"}, {"slug": "bad", "title": "Bad", "html": ""}]),
    "bulk-slug-twice": ("POST", "/projects/bulk", None,
                        [{"slug": "twin", "title": "A"}, {"slug": "twin", "title": "B"}]),
    "bulk-empty": ("POST", "/projects/bulk", None, []),
    "bulk-over-100": ("POST", "/projects/bulk", None, [{"slug": f"p-{n}", "title": "P"} for n in range(101)]),
    "bulk-lessons-same-slug": ("POST", f"/courses/{COURSE}/lessons/bulk", None,
                               [{"slug": "twin", "title": "A", "section": "basics"},
                                {"slug": "twin", "title": "B", "section": "practice"}]),
}


def test_bad_bodies_on_every_kind_get_422_and_nothing_is_written(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    for case, (method, path, file, payload) in BAD_ELSEWHERE.items():
        text = (site.content / file).read_text() if file else None
        response = site.request(method, path, version=site.blob(file) if file else None, json=payload)
        body = assert_problem(response, 422)
        assert body["errors"] and all(error["message"] for error in body["errors"]), (case, body)
        assert_unchanged(site, head)
        if file:
            assert (site.content / file).read_text() == text, case
    assert not list(site.content.rglob("*twin*")) and not list(site.content.rglob("*good*"))


def test_removing_the_last_video_of_a_video_lesson_is_refused(admin_site: AdminSite) -> None:
    site, path = admin_site, f"/courses/{COURSE}/lessons/first-test/videos/0"
    assert site.request("DELETE", path, version=site.blob(LESSON_FILE)).status_code == 200
    head, text = site.head(), (site.content / LESSON_FILE).read_text()
    body = assert_problem(site.request("DELETE", path, version=site.blob(LESSON_FILE)), 422)
    assert [error["rule"] for error in body["errors"]] == ["type-requirement"]
    assert (site.content / LESSON_FILE).read_text() == text
    assert_unchanged(site, head)


NOT_OBJECTS = [b"[]", b'"a string"', b"null", b"42", b"{not json", b"", b"\xff\xfe", b'{"slug": "x"} trailing']


def test_bodies_that_are_not_a_json_object_are_400_and_nothing_is_written(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    json_type = {"Content-Type": "application/json"}
    for raw in NOT_OBJECTS:
        for path in ("/projects", f"/courses/{COURSE}/sections", *(["/paths/bulk"] if raw != b"[]" else [])):
            assert_problem(site.request("POST", path, content=raw, headers=json_type), 400)
        for method, path, file in (("PUT", "/projects/test-dashboard", PROJECT_FILE),
                                   ("POST", f"/courses/{COURSE}/lessons/first-test/videos", LESSON_FILE),
                                   ("PATCH", "/paths/testing-path/publish", "paths/testing-path.md")):
            response = site.request(method, path, version=site.blob(file), content=raw, headers=json_type)
            assert_problem(response, 400)
    assert_unchanged(site, head)


def test_a_slug_that_exists_is_409(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    text = (site.content / PROJECT_FILE).read_text()
    assert_problem(site.request("POST", "/projects", json={"slug": "test-dashboard", "title": "Mine"}), 409,
                   "already-exists")
    assert_problem(site.request("POST", "/courses", json={"slug": COURSE, "title": "Mine"}), 409, "already-exists")
    assert (site.content / PROJECT_FILE).read_text() == text
    assert_unchanged(site, head)


UNKNOWN_TARGETS = [
    ("PUT", "/projects/no-such-project", {"title": "X"}),
    ("PUT", "/projects/..%2Ftest-dashboard", {"title": "X"}),
    ("PUT", "/projects/Test-Dashboard", {"title": "X"}),
    ("PUT", "/projects/test-dashboard%0A", {"title": "X"}),
    ("DELETE", f"/courses/{COURSE}/sections/no-such-section", None),
    ("DELETE", f"/courses/{COURSE}/sections/01-basics", None),
    ("PATCH", f"/courses/{COURSE}/lessons/01-why-test/publish", {"published": True}),
    ("PATCH", "/courses/no-such-course/lessons/why-test/publish", {"published": True}),
    ("POST", "/courses/no-such-course/sections", {"slug": "x", "title": "X"}),
    ("POST", "/courses/..%2Fprojects/sections", {"slug": "x", "title": "X"}),
    ("POST", f"/courses/{COURSE}/lessons", {"slug": "x", "title": "X", "section": "no-such-section"}),
    ("POST", f"/courses/{COURSE}/lessons/no-such-lesson/videos", {"url": "https://v.example.com/x.mp4"}),
    ("PUT", f"/courses/{COURSE}/lessons/first-test/videos/2", {"url": "https://v.example.com/x.mp4"}),
    ("DELETE", f"/courses/{COURSE}/lessons/first-test/videos/-1", None),
    ("DELETE", f"/courses/{COURSE}/lessons/why-test/videos/0", None),
]


def test_writes_to_entries_that_do_not_exist_are_404(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    for method, path, payload in UNKNOWN_TARGETS:
        file = "courses/intro-to-testing/01-basics/01-why-test.md" if "why-test" in path else LESSON_FILE
        response = site.request(method, path, version=site.blob(file),
                                **({} if payload is None else {"json": payload}))
        assert response.status_code == 404, (method, path, response.text)
        assert_problem(response, 404)
    assert_unchanged(site, head)


# --- who may write ----------------------------------------------------------------------------------------

def claims(user_id: int, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": str(user_id), "role": "ADMIN", "tv": 0, "jti": f"j{now}", "iat": now, "exp": now + 600,
            "aud": "coursebase-admin", "iss": "coursebase"}
    return {key: value for key, value in {**base, **changes}.items() if value is not None}


def unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(payload)}."


BAD_TOKENS = {
    "forged": lambda uid: jwt.encode(claims(uid), "another-secret-key-of-the-same-length-0123", algorithm="HS256"),
    "expired": lambda uid: jwt.encode(claims(uid, iat=int(time.time()) - 3600, exp=int(time.time()) - 60), SECRET),
    "wrong-audience": lambda uid: jwt.encode(claims(uid, aud="someone-else"), SECRET),
    "alg-none": lambda uid: unsigned(claims(uid)),
    "alg-none-capitalised": lambda uid: unsigned(claims(uid), alg="None"),
    "alg-none-signed-anyway": lambda uid: unsigned(claims(uid)) + "c2lnbmF0dXJl",
    "garbage": lambda uid: "not.a.token",
}
WRITES = [("POST", "/projects", {"slug": "intruder", "title": "Intruder", "status": "published"}),
          ("POST", "/courses/bulk", [{"slug": "intruder", "title": "Intruder"}]),
          ("PUT", "/projects/test-dashboard", {"title": "Owned", "status": "published"}),
          ("PATCH", "/paths/testing-path/publish", {"published": False}),
          ("DELETE", f"/courses/{COURSE}/lessons/why-test", None),
          ("POST", f"/courses/{COURSE}/lessons/first-test/videos", {"url": "https://evil.example.com/x.mp4"}),
          ("DELETE", f"/courses/{COURSE}/sections/practice", None)]


def try_every_write(site: AdminSite, headers: dict[str, str]) -> list[httpx.Response]:
    answers = []
    for method, path, payload in WRITES:
        current = {"If-Match": f'"{site.blob(LESSON_FILE if "videos" in path else PROJECT_FILE)}"'}
        kwargs = {} if payload is None else {"json": payload}
        answers.append(site.request(method, path, role=None, headers={**current, **headers}, **kwargs))
    return answers


def test_a_well_made_token_is_accepted(admin_site: AdminSite) -> None:
    """The control for the bad tokens below: the same claims, signed with the key, open the write routes."""
    site = admin_site
    ada_id = site.read("/auth/me", Role.ADMIN).json()["id"]
    response = site.request("POST", "/projects", role=None, json={"slug": "minted", "title": "Minted"},
                            headers={"Authorization": f"Bearer {jwt.encode(claims(ada_id), SECRET)}"})
    assert response.status_code == 201, response.text


def test_bad_tokens_get_401_on_every_write(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    ada_id = site.read("/auth/me", Role.ADMIN).json()["id"]
    for kind, make in BAD_TOKENS.items():
        for response in try_every_write(site, {"Authorization": f"Bearer {make(ada_id)}"}):
            assert response.status_code == 401, (kind, response.request.url, response.text)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert_unchanged(site, head)


MALFORMED = [None, "", "Bearer", "Bearer ", "Basic YWRhOnBhc3N3b3JkLWZvci10ZXN0cy0x", "Token abc", "bearer  x y"]


def test_missing_or_malformed_authorization_gets_401(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    for header in MALFORMED:
        for response in try_every_write(site, {} if header is None else {"Authorization": header}):
            assert response.status_code == 401, (header, response.request.url, response.text)
            assert_problem(response, 401)
    assert_unchanged(site, head)


def test_a_user_token_gets_403_on_every_write(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    for response in try_every_write(site, site.auth(Role.USER)):
        assert_problem(response, 403)
    assert_unchanged(site, head)


VARIANTS = [("POST", "/projects/"), ("POST", "/PROJECTS"), ("POST", "/Projects/bulk"), ("POST", "/%70rojects"),
            ("POST", "/projects%2Fbulk"), ("POST", "/projects/bulk/"), ("PUT", "/projects/test-dashboard/"),
            ("PUT", "/projects/%74est-dashboard"), ("PUT", "/PROJECTS/test-dashboard"),
            ("PATCH", "/projects/test-dashboard/publish/"), ("PATCH", "/projects/test-dashboard/PUBLISH"),
            ("DELETE", "/projects/test-dashboard/"), ("DELETE", "/projects//test-dashboard"),
            ("DELETE", f"/courses/{COURSE}/lessons/first-test/videos/0/"),
            ("POST", f"/COURSES/{COURSE}/lessons/first-test/videos"),
            ("HEAD", "/projects"), ("HEAD", "/projects/test-dashboard"), ("HEAD", "/projects/bulk"),
            ("HEAD", "/projects/test-dashboard/publish"), ("HEAD", f"/courses/{COURSE}/lessons/first-test/videos"),
            ("OPTIONS", "/projects"), ("OPTIONS", "/projects/bulk"), ("OPTIONS", "/projects/test-dashboard"),
            ("OPTIONS", "/projects/test-dashboard/publish"), ("OPTIONS", f"/courses/{COURSE}/sections/basics"),
            ("OPTIONS", f"/courses/{COURSE}/lessons/first-test/videos/0"), ("TRACE", "/projects"),
            ("GET", "/projects/bulk"), ("GET", "/projects/test-dashboard/publish")]


@pytest.mark.parametrize("who", [None, Role.USER], ids=["anonymous", "user"])
def test_path_variants_and_other_methods_never_let_anyone_write(admin_site: AdminSite, who: Role | None) -> None:
    site, head = admin_site, admin_site.head()
    payload = {"slug": "intruder", "title": "Intruder", "status": "published", "published": False}
    for method, path in VARIANTS:
        headers = {"If-Match": f'"{site.blob(PROJECT_FILE)}"', **(site.auth(who) if who else {})}
        response = site.request(method, path, role=None, headers=headers, json=payload)
        allowed = (401, 403, 404, 405) + ((204,) if method == "OPTIONS" else ()) + ((200,) if method == "HEAD" else ())
        assert response.status_code in allowed, (method, path, response.status_code, response.text)
        assert not (200 <= response.status_code < 300 and response.content), (method, path, response.text)
    assert_unchanged(site, head)
    assert not (site.content / "projects/intruder.md").exists()
    assert site.read("/projects/test-dashboard").json()["title"] == "Test dashboard"


NOT_WRITES = [(method, path) for method, path in VARIANTS
              if method in ("HEAD", "OPTIONS", "TRACE", "GET") or (path.lower() != path and "%" not in path)]
"""Variants that are no write route even for staff (a trailing slash or an encoded letter is the same route)."""


def test_a_staff_token_writes_nothing_through_other_methods_or_mis_cased_paths(admin_site: AdminSite) -> None:
    site, head = admin_site, admin_site.head()
    for method, path in NOT_WRITES:
        response = site.request(method, path, version=site.blob(PROJECT_FILE),
                                json={"slug": "intruder", "title": "X", "published": False})
        allowed = (204, 404, 405) + ((200,) if method == "HEAD" else ())  # HEAD is a GET without the body
        assert response.status_code in allowed, (method, path, response.status_code, response.text)
        assert not (method == "HEAD" and response.content)
    assert_unchanged(site, head)
    assert site.read("/projects/test-dashboard").json()["title"] == "Test dashboard"


# --- crash safety ------------------------------------------------------------------------------------------

KILLED_WRITE = """
import os, sys
from pathlib import Path
from cms.write import journal
from cms.repo.repository import GitRepo
root = Path(sys.argv[1])
repo = GitRepo.open(root)
journal.begin(repo, ["content/projects/test-dashboard.md", "content/projects/half.md"])
(root / "content/projects/test-dashboard.md").write_text("---\\ntitle: Half written\\nstat")
(root / "content/projects/half.md").write_text("---\\ntitle: Half\\nstatus: published\\n---\\nUncommitted.\\n")
os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("index_kept", [True, False], ids=["index-kept", "index-rebuilt-at-start"])
def test_a_write_killed_before_its_commit_leaves_nothing_after_a_restart(
        fresh_repo: Path, start: Starter, index_kept: bool) -> None:
    repo = fresh_repo
    head = run_git(repo, "rev-parse", "HEAD").stdout.strip()
    original = (repo / "content" / PROJECT_FILE).read_text()
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(repo)], capture_output=True,
                            cwd=Path(__file__).parents[2])
    assert killed.returncode == -9, killed.stderr
    assert run_git(repo, "status", "--porcelain").stdout != ""
    if not index_kept:
        for path in (repo / ".cms").glob("index.db*"):
            path.unlink()
    with start() as site:
        assert site.head() == head and site.status() == ""
        assert not (site.content / "projects/half.md").exists()
        assert (site.content / PROJECT_FILE).read_text() == original
        assert not (site.repo / ".cms/pending-write.json").exists()
        for role in (None, Role.ADMIN):
            assert_problem(site.read("/projects/half", role), 404)
            assert site.read("/projects/test-dashboard", role).json()["title"] == "Test dashboard"
        assert [p["slug"] for p in site.read("/projects", Role.ADMIN).json()["items"]] == ["test-dashboard"]
        assert ADA.author not in site.git("log", "--all", "--format=%an|%ae")
        response = site.request("PUT", "/projects/test-dashboard", version=site.blob(PROJECT_FILE),
                                json={"title": "After the crash", "status": "published"})
        assert response.status_code == 200, response.text
        assert changed_files(site) == [f"content/{PROJECT_FILE}"]


def test_a_server_starting_while_another_process_writes_leaves_that_write_alone(fresh_repo: Path,
                                                                                start: Starter) -> None:
    """Start-up recovery waits for the write lock: a journal note of a write still running is not undone."""
    repo = GitRepo.open(fresh_repo)
    target = fresh_repo / "content" / PROJECT_FILE
    started, finished = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def serve() -> None:
        with start() as site:
            started.set()
            seen["status"] = site.status()
        finished.set()

    with journal.exclusive(repo):
        journal.begin(repo, [f"content/{PROJECT_FILE}"])
        target.write_text(target.read_text().replace("title: Test dashboard", "title: Written meanwhile"))
        server = threading.Thread(target=serve)
        server.start()
        assert not started.wait(0.5), "the app started while a write held the lock"
        assert "title: Written meanwhile" in target.read_text(), "start-up undid a write still running"
        commit = commit_paths(repo, [f"content/{PROJECT_FILE}"], "Written meanwhile", Identity("Eve", "e@x.org"))
        journal.end(repo)
    server.join(timeout=30)
    assert finished.is_set()
    assert run_git(fresh_repo, "rev-parse", "HEAD").stdout.strip() == commit
    assert "title: Written meanwhile" in target.read_text() and seen["status"] == ""
