"""The public read API over real HTTP: every route, filter, sort and page edge, visibility and caching.

The server is `cms serve` over the test site plus `fixtures/api` (see
`tests/api_server.py`); every response the `api` client receives is also
checked for author emails, quiz answers and words only hidden content holds.

Every test runs twice, on a server whose index is SQLite and on one whose index is a real Postgres
(`CMS_DATABASE_URL`, filled by `cms index`), one server per backend for the module; the answers must be the
same, except where a comment says what the engines do differently and what both promise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.register_assert_rewrite("tests.api_server")

from cms.content.corpus import ContentTree  # noqa: E402
from cms.index.build import update  # noqa: E402
from cms.index.sqlite import database_path  # noqa: E402
from tests.api_server import (  # noqa: E402
    ALLOWED_ORIGIN,
    BACKENDS,
    BASE,
    CACHE_MAX_AGE,
    EMAILS,
    HIDDEN_WORDS,
    UPDATED_ORDER,
    Collector,
    Site,
    check_response,
    checked_client,
    running_server,
    served_on,
)
from tests.conftest import SITE, git, make_repo  # noqa: E402

pytest_plugins = ["tests.api_server"]


@pytest.fixture(scope="module", params=BACKENDS)
def api_site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The API site served with its index on SQLite, then on Postgres: this module's own servers."""
    with served_on(request.param, tmp_path_factory.mktemp(f"api-{request.param}"), request) as site:
        yield site


@pytest.fixture(scope="module")
def api_collector(api_site: Site) -> Collector:
    return Collector()


@pytest.fixture(scope="module")
def api(api_site: Site, api_collector: Collector) -> Iterator[httpx.Client]:
    with checked_client(api_site.base_url, api_collector) as client:
        yield client

BY_UPDATED = list(reversed(UPDATED_ORDER))
BY_TITLE = ["ci-pipelines", "git-for-teams", "intro-to-testing", "python-data", "ui-design-basics"]
BY_PRICE = ["intro-to-testing", "git-for-teams", "ui-design-basics", "python-data", "ci-pipelines"]
PROJECTS = ["field-app", "test-dashboard", "data-pipeline"]
"""Featured first, then newest, then by slug."""


def get_json(api: httpx.Client, path: str, **params: Any) -> Any:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def slugs(items: list[dict[str, Any]]) -> list[str]:
    return [item["slug"] for item in items]


def in_default_order(*wanted: str) -> list[str]:
    return [slug for slug in BY_UPDATED if slug in wanted]


def utc_z(git_date: str) -> str:
    return datetime.fromisoformat(git_date).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_dates(site: Site, path: str) -> tuple[str, str]:
    """(first, last) author dates of a content file, as the API writes them."""
    dates = git(site.repo, "log", "--format=%aI", "--", f"content/{path}").splitlines()
    return utc_z(dates[-1]), utc_z(dates[0])


# --- status -----------------------------------------------------------------------------------------------------


def test_health_reports_the_indexed_commit_level_with_head(api: httpx.Client, api_site: Site) -> None:
    head = git(api_site.repo, "rev-parse", "HEAD")
    body = get_json(api, "/health")
    assert body["status"] == "ok"
    assert body["index_commit"] == body["repository_head"] == head
    assert body["commits_behind"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["built_at"])


def test_meta_counts_only_what_the_public_sees(api: httpx.Client, api_site: Site) -> None:
    body = get_json(api, "/meta")
    assert body["commit"] == git(api_site.repo, "rev-parse", "HEAD")
    assert body["built_at"]
    assert body["counts"] == {"courses": 5, "lessons": 11, "projects": 3, "authors": 2, "paths": 2, "media": 4,
                              "problems": 0}


# --- courses: list, filters, sorts, paging ----------------------------------------------------------------------


def test_course_list_defaults_to_newest_first(api: httpx.Client) -> None:
    response = api.get("/courses")
    assert response.status_code == 200
    body = response.json()
    assert slugs(body["items"]) == BY_UPDATED
    assert (body["total"], body["page"], body["page_size"]) == (5, 1, 20)
    assert "link" not in response.headers
    updated = [item["updated_at"] for item in body["items"]]
    assert updated == sorted(updated, reverse=True)
    assert len(set(updated)) == 5


def test_course_summary_fields(api: httpx.Client, api_site: Site) -> None:
    items = {item["slug"]: item for item in get_json(api, "/courses")["items"]}
    intro = items["intro-to-testing"]
    assert intro == {
        "slug": "intro-to-testing", "version": api_site.blob("courses/intro-to-testing/course.md"),
        "title": "Intro to Testing", "description": "Why and how to write automated tests.", "status": "published",
        "difficulty_level": "beginner", "instructor": intro["instructor"],
        "category": {"slug": "testing", "name": "Testing"}, "tags": ["pytest", "basics"], "price": 0.0,
        "currency": "USD", "image": intro["image"], "publish_at": None,
        "section_count": 2, "lesson_count": 4, "video_count": 2, "video_seconds": 95,
        "duration_minutes": intro["duration_minutes"],
        "created_at": git_dates(api_site, "courses/intro-to-testing/course.md")[0],
        "updated_at": git_dates(api_site, "courses/intro-to-testing/course.md")[1],
    }
    assert intro["instructor"]["slug"] == "grace-tester" and intro["instructor"]["avatar"]["id"] == "grace-avatar"
    assert intro["image"]["id"] == "testing-cover"
    assert intro["image"] == get_json(api, "/media/testing-cover")
    assert intro["instructor"] == get_json(api, "/courses/intro-to-testing")["instructor"]
    assert items["ci-pipelines"]["currency"] == "EUR"
    assert items["python-data"]["publish_at"] == "2020-01-01T09:00:00Z"
    assert items["python-data"]["price"] == 49.5


@pytest.mark.parametrize(("params", "expected"), [
    ({"difficulty_level": "beginner"}, ["intro-to-testing", "ui-design-basics"]),
    ({"difficulty_level": "intermediate"}, ["python-data", "git-for-teams"]),
    ({"difficulty_level": "advanced"}, ["ci-pipelines"]),
    ({"category": "tooling"}, ["ci-pipelines", "git-for-teams"]),
    ({"category": "design"}, ["ui-design-basics"]),
    ({"category": "data"}, ["python-data"]),
    ({"category": "no-such-category"}, []),
    ({"tag": "basics"}, ["intro-to-testing", "ui-design-basics"]),
    ({"tag": "pytest"}, ["intro-to-testing", "ci-pipelines"]),
    ({"tag": "bas"}, []),
    ({"instructor": "ada-builder"}, ["python-data", "ui-design-basics", "git-for-teams"]),
    ({"instructor": "grace-tester"}, ["intro-to-testing", "ci-pipelines"]),
    ({"q": "charts"}, ["python-data"]),
    ({"q": "merges"}, ["git-for-teams"]),
    ({"q": "automated tests"}, ["intro-to-testing"]),
    ({"q": "flamingoarchive"}, []),
    ({"min_price": 19}, ["ui-design-basics", "python-data", "ci-pipelines"]),
    ({"max_price": 19}, ["intro-to-testing", "git-for-teams", "ui-design-basics"]),
    ({"min_price": 5, "max_price": 49.5}, ["git-for-teams", "ui-design-basics", "python-data"]),
    ({"min_price": 0, "max_price": 0}, ["intro-to-testing"]),
    ({"min_price": 50, "max_price": 10}, []),
    ({"category": "tooling", "difficulty_level": "advanced"}, ["ci-pipelines"]),
    ({"tag": "basics", "instructor": "ada-builder", "max_price": 100}, ["ui-design-basics"]),
])
def test_course_filters(api: httpx.Client, params: dict[str, Any], expected: list[str]) -> None:
    body = get_json(api, "/courses", **params)
    assert slugs(body["items"]) == in_default_order(*expected)
    assert body["total"] == len(expected)


@pytest.mark.parametrize(("sort", "expected"), [
    ("title", BY_TITLE),
    ("price", BY_PRICE),
    ("-price", list(reversed(BY_PRICE))),
    ("-updated_at", BY_UPDATED),
])
def test_course_sorts(api: httpx.Client, sort: str, expected: list[str]) -> None:
    assert slugs(get_json(api, "/courses", sort=sort)["items"]) == expected


def test_sort_applies_after_filters(api: httpx.Client) -> None:
    body = get_json(api, "/courses", sort="-price", instructor="ada-builder")
    assert slugs(body["items"]) == ["python-data", "ui-design-basics", "git-for-teams"]


def _links(response: httpx.Response) -> dict[str, httpx.URL]:
    links = {}
    for link in response.headers.get("link", "").split(","):
        match = re.fullmatch(r'\s*<([^>]+)>;\s*rel="(\w+)"\s*', link)
        if match:
            links[match.group(2)] = httpx.URL(match.group(1))
    return links


@pytest.mark.parametrize(("page", "expected", "next_page", "prev_page"), [
    (1, BY_TITLE[0:2], 2, None),
    (2, BY_TITLE[2:4], 3, 1),
    (3, BY_TITLE[4:5], None, 2),
    (4, [], None, 3),
    (50, [], None, None),
])
def test_paging_edges_and_link_header(api: httpx.Client, page: int, expected: list[str], next_page: int | None,
                                      prev_page: int | None) -> None:
    response = api.get("/courses", params={"sort": "title", "page_size": 2, "page": page})
    assert response.status_code == 200
    body = response.json()
    assert slugs(body["items"]) == expected
    assert (body["total"], body["page"], body["page_size"]) == (5, page, 2)
    links = _links(response)
    assert set(links) == {rel for rel, value in (("next", next_page), ("prev", prev_page)) if value}
    for rel, wanted in (("next", next_page), ("prev", prev_page)):
        if wanted:
            assert links[rel].path == f"{BASE}/courses"
            assert dict(links[rel].params) == {"sort": "title", "page_size": "2", "page": str(wanted)}


def test_walking_every_page_by_link_sees_each_course_once(api: httpx.Client) -> None:
    seen: list[str] = []
    response = api.get("/courses", params={"page_size": 1, "sort": "price"})
    for _ in range(10):
        assert response.status_code == 200
        body = response.json()
        assert body["total"] == 5
        seen += slugs(body["items"])
        following = _links(response).get("next")
        if following is None:
            break
        response = api.get(str(following))
    assert seen == BY_PRICE


def test_a_page_size_of_one_hundred_is_allowed(api: httpx.Client) -> None:
    body = get_json(api, "/courses", page_size=100)
    assert body["page_size"] == 100
    assert len(body["items"]) == 5


# --- one course, its sections and lessons -----------------------------------------------------------------------


def test_course_detail(api: httpx.Client, api_site: Site) -> None:
    body = get_json(api, "/courses/intro-to-testing")
    assert body["version"] == api_site.blob("courses/intro-to-testing/course.md")
    assert body["instructor"]["slug"] == "grace-tester"
    assert body["instructor"]["name"] == "Grace Tester"
    assert body["instructor"]["avatar"]["id"] == "grace-avatar"
    assert body["instructor"]["avatar"]["alt"] == "Portrait of Grace"
    assert body["category"] == {"slug": "testing", "name": "Testing"}
    assert body["image"]["id"] == "testing-cover"
    assert body["image"]["version"] == api_site.blob("media/testing-cover.yml")
    assert body["image"]["secure_url"].startswith("https://res.cloudinary.com/")
    assert body["html"] == "<p>A first course on automated testing.</p>\n"
    assert (body["section_count"], body["lesson_count"], body["video_count"], body["video_seconds"]) == (2, 4, 2, 95)
    assert [(s["slug"], s["order"]) for s in body["sections"]] == [("basics", 1), ("practice", 2)]
    lessons = [[lesson["slug"] for lesson in s["lessons"]] for s in body["sections"]]
    assert lessons == [["why-test", "first-test"], ["cheat-sheet", "check-yourself"]]
    first_test = body["sections"][0]["lessons"][1]
    assert (first_test["type"], first_test["order"], first_test["video_count"]) == ("video", 2, 2)
    assert first_test["section"] == {"slug": "basics", "title": "Basics", "order": 1}
    assert body["body"].strip() == "A first course on automated testing."
    assert first_test["version"] == api_site.blob("courses/intro-to-testing/01-basics/02-first-test.md")
    assert body["sections"][0]["version"] == api_site.blob("courses/intro-to-testing/01-basics/section.md")


def test_course_detail_with_prerequisites_and_toc(api: httpx.Client) -> None:
    body = get_json(api, "/courses/python-data")
    assert body["prerequisites"] == [{"slug": "intro-to-testing", "title": "Intro to Testing"}]
    assert body["toc"] == [{"level": 2, "id": "h-overview", "title": "Overview"}]
    assert body["instructor"] == {"slug": "ada-builder", "name": "Ada Builder", "avatar": None}
    assert body["image"]["id"] == "data-thumb"


def test_sections_in_order(api: httpx.Client, api_site: Site) -> None:
    page = get_json(api, "/courses/intro-to-testing/sections")
    assert (page["total"], page["page"], page["page_size"]) == (2, 1, 20)
    body = page["items"]
    assert [(s["slug"], s["title"], s["order"], s["lesson_count"]) for s in body] == [
        ("basics", "Basics", 1, 2), ("practice", "Practice", 2, 2)]
    assert body[0]["description"] == "What a test is."
    assert body[0]["video_count"] == 2 and body[0]["video_seconds"] == 95
    assert body[1]["version"] == api_site.blob("courses/intro-to-testing/02-practice/section.md")


def test_section_detail(api: httpx.Client) -> None:
    body = get_json(api, "/courses/python-data/sections/loading")
    assert body["title"] == "Loading data"
    assert body["html"] == "<p>Start here.</p>\n"
    assert slugs(body["lessons"]) == ["read-csv", "clean-data"]
    assert body["lesson_count"] == 2


def test_lessons_in_course_order(api: httpx.Client) -> None:
    body = get_json(api, "/courses/intro-to-testing/lessons")["items"]
    assert slugs(body) == ["why-test", "first-test", "cheat-sheet", "check-yourself"]
    assert [lesson["section"]["slug"] for lesson in body] == ["basics", "basics", "practice", "practice"]
    assert [lesson["order"] for lesson in body] == [1, 2, 1, 2]
    assert [lesson["type"] for lesson in body] == ["text", "video", "pdf", "quiz"]


@pytest.mark.parametrize(("section", "expected"), [
    ("basics", ["why-test", "first-test"]),
    ("practice", ["cheat-sheet", "check-yourself"]),
])
def test_lessons_of_one_section(api: httpx.Client, section: str, expected: list[str]) -> None:
    assert slugs(get_json(api, "/courses/intro-to-testing/lessons", section=section)["items"]) == expected


def test_lesson_detail(api: httpx.Client, api_site: Site) -> None:
    path = "courses/intro-to-testing/01-basics/02-first-test.md"
    body = get_json(api, "/courses/intro-to-testing/lessons/first-test")
    assert body["version"] == api_site.blob(path)
    assert (body["course"], body["title"], body["type"], body["status"]) == (
        {"slug": "intro-to-testing", "title": "Intro to Testing"}, "Your first test", "video", "published")
    assert body["section"] == {"slug": "basics", "title": "Basics", "order": 1}
    assert body["body"] == api_site.file(path).read_text().split("---\n", 2)[2]
    assert '<pre><code class="language-python">' in body["html"]
    assert body["toc"] == [{"level": 2, "id": "h-writing-it", "title": "Writing it"}]
    assert body["videos"] == [
        {"position": 0, "url": "https://videos.example.com/first-test.mp4", "description": "Writing the test",
         "start_time_seconds": 0, "end_time_seconds": 60, "duration_seconds": 60, "media": None},
        {"position": 1, "url": "https://videos.example.com/first-test.mp4", "description": None,
         "start_time_seconds": 60, "end_time_seconds": 95, "duration_seconds": 35,
         "media": get_json(api, "/media/demo-video")}]
    assert body["prev"] == {"slug": "why-test", "title": "Why test"}
    assert body["next"] == {"slug": "cheat-sheet", "title": "Cheat sheet"}
    assert (body["created_at"], body["updated_at"]) == git_dates(api_site, path)


def test_prev_and_next_cross_section_boundaries_both_ways(api: httpx.Client) -> None:
    cheat_sheet = get_json(api, "/courses/intro-to-testing/lessons/cheat-sheet")
    assert cheat_sheet["prev"] == {"slug": "first-test", "title": "Your first test"}
    assert cheat_sheet["section"]["slug"] == "practice"
    assert cheat_sheet["pdf_url"] == "https://files.example.com/cheat-sheet.pdf"
    assert get_json(api, "/courses/intro-to-testing/lessons/why-test")["prev"] is None
    assert get_json(api, "/courses/intro-to-testing/lessons/check-yourself")["next"] is None


def test_lesson_links_become_public_urls(api: httpx.Client) -> None:
    body = get_json(api, "/courses/intro-to-testing/lessons/why-test")
    assert body["objectives"] == ["Say what a regression is"]
    assert body["duration_minutes"] == 5
    assert '<h2 id="h-regressions">Regressions</h2>' in body["html"]
    assert '<a href="/courses/intro-to-testing/lessons/first-test">first test</a>' in body["html"]
    cheat_sheet = get_json(api, "/courses/intro-to-testing/lessons/cheat-sheet")
    assert 'href="/courses/intro-to-testing/lessons/why-test#h-regressions"' in cheat_sheet["html"]


def test_quiz_questions_have_no_answer_or_explanation(api: httpx.Client) -> None:
    for course, lesson in (("intro-to-testing", "check-yourself"), ("python-data", "clean-data")):
        body = get_json(api, f"/courses/{course}/lessons/{lesson}")
        assert body["type"] == "quiz"
        assert body["questions"]
        for question in body["questions"]:
            assert set(question) == {"prompt", "choices"}
    body = get_json(api, "/courses/python-data/lessons/clean-data")
    assert body["questions"] == [{"prompt": "Which value marks a missing cell?", "choices": ["NaN", "Zero"]}]


def test_markup_in_lessons_is_escaped(api: httpx.Client) -> None:
    body = get_json(api, "/courses/ui-design-basics/lessons/markup")
    assert "<img" not in body["html"] and "<b>" not in body["html"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in body["html"]


# --- projects ---------------------------------------------------------------------------------------------------


def test_project_list(api: httpx.Client, api_site: Site) -> None:
    body = get_json(api, "/projects")
    assert slugs(body["items"]) == PROJECTS
    assert (body["total"], body["page"], body["page_size"]) == (3, 1, 20)
    dashboard = body["items"][1]
    assert dashboard["version"] == api_site.blob("projects/test-dashboard.md")
    assert (dashboard["featured"], dashboard["project_type"], dashboard["tech_stack"]) == (True, "web",
                                                                                          ["Python", "SQLite"])
    assert dashboard["thumbnail"] == get_json(api, "/media/testing-cover")


@pytest.mark.parametrize(("params", "expected"), [
    ({"project_type": "data"}, ["data-pipeline"]),
    ({"project_type": "mobile"}, ["field-app"]),
    ({"project_type": "web"}, ["test-dashboard"]),
    ({"featured": "true"}, ["field-app", "test-dashboard"]),
    ({"featured": "false"}, ["data-pipeline"]),
    ({"tech": "python"}, ["test-dashboard", "data-pipeline"]),
    ({"tech": "Kotlin"}, ["field-app"]),
    ({"tech": "Cobol"}, []),
    ({"q": "warehouse"}, ["data-pipeline"]),
    ({"q": "inspectors"}, ["field-app"]),
    ({"q": "kumquatdraft"}, []),
    ({"featured": "true", "tech": "kotlin"}, ["field-app"]),
])
def test_project_filters(api: httpx.Client, params: dict[str, Any], expected: list[str]) -> None:
    body = get_json(api, "/projects", **params)
    assert slugs(body["items"]) == expected
    assert body["total"] == len(expected)


def test_project_paging(api: httpx.Client) -> None:
    seen = []
    for page in (1, 2, 3):
        response = api.get("/projects", params={"page_size": 1, "page": page})
        body = response.json()
        assert body["total"] == 3
        seen += slugs(body["items"])
        assert ("next" in _links(response)) == (page < 3)
        assert ("prev" in _links(response)) == (page > 1)
    assert seen == PROJECTS
    beyond = get_json(api, "/projects", page=9, page_size=1)
    assert (beyond["items"], beyond["total"]) == ([], 3)


def test_project_detail(api: httpx.Client) -> None:
    body = get_json(api, "/projects/test-dashboard")
    assert body["html"] == '<h2 id="h-the-problem">The problem</h2>\n<p>Flaky tests.</p>\n'
    assert body["toc"] == [{"level": 2, "id": "h-the-problem", "title": "The problem"}]
    assert body["thumbnail"]["id"] == "testing-cover"
    assert body["github_url"] == "https://github.com/example/dashboard"
    assert body["client_name"] == "Example Co"


# --- authors, categories, paths, media --------------------------------------------------------------------------


def test_authors_list_is_public_profiles(api: httpx.Client, api_site: Site) -> None:
    body = get_json(api, "/authors")["items"]
    assert slugs(body) == ["ada-builder", "grace-tester"]
    grace = body[1]
    assert grace == {"slug": "grace-tester", "version": api_site.blob("authors/grace-tester.md"),
                     "name": "Grace Tester", "avatar": get_json(api, "/media/grace-avatar"),
                     "links": [{"label": "Website", "url": "https://example.com/grace"}]}


@pytest.mark.parametrize(("author", "courses"), [
    ("grace-tester", ["ci-pipelines", "intro-to-testing"]),
    ("ada-builder", ["git-for-teams", "python-data", "ui-design-basics"]),
])
def test_author_detail_lists_only_published_courses(api: httpx.Client, author: str, courses: list[str]) -> None:
    body = get_json(api, f"/authors/{author}")
    assert slugs(body["courses"]) == courses
    assert body["html"].startswith("<p>")


def test_author_avatar_is_a_media_record(api: httpx.Client) -> None:
    assert get_json(api, "/authors/grace-tester")["avatar"]["public_id"] == "test/grace-avatar"
    assert get_json(api, "/authors/ada-builder")["avatar"] is None


def test_categories_count_published_courses(api: httpx.Client, api_site: Site) -> None:
    body = get_json(api, "/categories")["items"]
    assert [(c["slug"], c["name"], c["course_count"]) for c in body] == [
        ("testing", "Testing", 1), ("tooling", "Tooling", 2), ("data", "Data", 1), ("design", "Design", 1)]
    assert {c["version"] for c in body} == {api_site.blob("categories.yml")}
    assert body[0]["description"] == "Writing tests that catch real bugs."


def test_paths_list_only_visible_courses(api: httpx.Client, api_site: Site) -> None:
    body = get_json(api, "/paths")["items"]
    assert [(p["slug"], slugs(p["courses"])) for p in body] == [
        ("testing-path", ["intro-to-testing"]), ("data-path", ["python-data", "git-for-teams"])]
    assert body[1]["version"] == api_site.blob("paths/data-path.md")


def test_path_detail_has_its_courses_in_order(api: httpx.Client) -> None:
    body = get_json(api, "/paths/data-path")
    assert body["title"] == "Data track"
    assert slugs(body["courses"]) == ["python-data", "git-for-teams"]
    assert body["courses"][0]["title"] == "Python for Data"
    assert body["html"] == "<p>From loading to merging.</p>\n"


@pytest.mark.parametrize(("media_id", "fields"), [
    ("testing-cover", {"resource_type": "image", "format": "png", "width": 1200, "height": 630,
                       "alt": "A green checkmark over a terminal", "duration_ms": None}),
    ("demo-video", {"resource_type": "video", "format": "mp4", "duration_ms": 95000, "alt": None}),
])
def test_media_record(api: httpx.Client, api_site: Site, media_id: str, fields: dict[str, Any]) -> None:
    body = get_json(api, f"/media/{media_id}")
    assert body["id"] == media_id
    assert body["version"] == api_site.blob(f"media/{media_id}.yml")
    assert body["public_id"] == f"test/{media_id}"
    assert "deleted" not in body
    assert {key: body[key] for key in fields} == fields


# --- search -----------------------------------------------------------------------------------------------------


def test_search_ranks_and_highlights(api: httpx.Client) -> None:
    body = get_json(api, "/search", q="charts")
    hits = [(hit["kind"], hit["slug"], hit["course"], hit["path"]) for hit in body["items"]]
    assert hits == [("lesson", "charts", {"slug": "python-data", "title": "Python for Data"},
                     "/courses/python-data/lessons/charts"), ("course", "python-data", None, "/courses/python-data")]
    assert body["total"] == 2
    scores = [hit["score"] for hit in body["items"]]
    assert scores == sorted(scores, reverse=True), "higher is better"
    assert "<mark>charts</mark>" in body["items"][0]["snippet"]
    assert body["items"][0]["title"] == "Drawing charts"


def test_search_matches_every_word_and_a_prefix_of_the_last(api: httpx.Client) -> None:
    assert slugs(get_json(api, "/search", q="bars comp")["items"]) == ["charts"]
    assert get_json(api, "/search", q="bars kotlin")["items"] == []


@pytest.mark.parametrize(("params", "expected"), [
    ({}, {("course", "python-data"), ("lesson", "clean-data"), ("project", "data-pipeline")}),
    ({"kind": "course"}, {("course", "python-data")}),
    ({"kind": "lesson"}, {("lesson", "clean-data")}),
    ({"kind": "project"}, {("project", "data-pipeline")}),
    ({"course": "python-data"}, {("course", "python-data"), ("lesson", "clean-data")}),
    ({"course": "python-data", "kind": "lesson"}, {("lesson", "clean-data")}),
    ({"course": "intro-to-testing"}, set()),
])
def test_search_filters(api: httpx.Client, params: dict[str, str], expected: set[tuple[str, str]]) -> None:
    body = get_json(api, "/search", q="data", **params)
    assert {(hit["kind"], hit["slug"]) for hit in body["items"]} == expected
    assert body["total"] == len(expected)


def test_search_pages(api: httpx.Client) -> None:
    first = api.get("/search", params={"q": "data", "page_size": 1})
    assert first.json()["total"] == 3 and len(first.json()["items"]) == 1
    assert set(_links(first)) == {"next"}
    beyond = get_json(api, "/search", q="data", page=5)
    assert (beyond["items"], beyond["total"]) == ([], 3)


def test_search_snippets_are_safe_html(api: httpx.Client) -> None:
    for word in ("onerror", "bold"):
        (hit,) = get_json(api, "/search", q=word)["items"]
        assert hit["slug"] == "markup"
        assert f"<mark>{word}</mark>" in hit["snippet"]
        assert "<" not in hit["snippet"].replace("<mark>", "").replace("</mark>", ""), hit["snippet"]
        # the fragment around the word is the engine's choice (FTS5 `snippet`, Postgres `ts_headline`): both
        # escape the lesson's markup in it, which may show as `&lt;` or only as the `&gt;` closing a tag
        assert "&lt;" in hit["snippet"] or "&gt;" in hit["snippet"], hit["snippet"]


@pytest.mark.parametrize("word", sorted(HIDDEN_WORDS))
def test_search_never_finds_hidden_words(api: httpx.Client, word: str) -> None:
    for params in ({}, {"kind": "course"}, {"kind": "lesson"}, {"kind": "project"}):
        body = get_json(api, "/search", q=word, **params)
        assert (body["items"], body["total"]) == ([], 0), (word, HIDDEN_WORDS[word])
    assert get_json(api, "/courses", q=word)["total"] == 0
    assert get_json(api, "/projects", q=word)["total"] == 0


# --- visibility -------------------------------------------------------------------------------------------------

MISSING = "no-such-thing"
HIDDEN_ROUTES = [
    ("/courses/advanced-testing", "advanced-testing"),
    ("/courses/legacy-flash", "legacy-flash"),
    ("/courses/future-launch", "future-launch"),
    ("/courses/advanced-testing/sections", "advanced-testing"),
    ("/courses/legacy-flash/lessons", "legacy-flash"),
    ("/courses/future-launch/sections/soon", "future-launch"),
    ("/courses/python-data/sections/scratchpad", "scratchpad"),
    ("/courses/python-data/lessons/draft-notes", "draft-notes"),
    ("/courses/python-data/lessons/ideas", "ideas"),
    ("/courses/advanced-testing/lessons/stubs", "advanced-testing"),
    ("/courses/advanced-testing/lessons/fakes", "advanced-testing"),
    ("/courses/legacy-flash/lessons/timeline", "legacy-flash"),
    ("/courses/future-launch/lessons/teaser", "future-launch"),
    ("/courses/python-data/lessons?section=scratchpad", "scratchpad"),
    ("/projects/secret-prototype", "secret-prototype"),
    ("/paths/secret-path", "secret-path"),
    ("/media/old-logo", "old-logo"),
    ("/media/retired-banner", "retired-banner"),
]


@pytest.mark.parametrize(("path", "slug"), HIDDEN_ROUTES, ids=[path for path, _ in HIDDEN_ROUTES])
def test_hidden_entries_answer_exactly_like_missing_ones(api: httpx.Client, path: str, slug: str) -> None:
    hidden = api.get(path)
    missing = api.get(path.replace(slug, MISSING))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["content-type"] == missing.headers["content-type"] == "application/problem+json"
    expected = missing.json()
    assert expected["type"] and expected["title"] and expected["status"] == 404
    assert hidden.json() == {**expected, "detail": expected["detail"].replace(MISSING, slug)}
    assert hidden.headers.get("cache-control") == missing.headers.get("cache-control")


def test_hidden_sections_and_lessons_are_left_out_of_a_visible_course(api: httpx.Client) -> None:
    detail = get_json(api, "/courses/python-data")
    assert [s["slug"] for s in detail["sections"]] == ["loading", "plotting"]
    assert [[lesson["slug"] for lesson in s["lessons"]] for s in detail["sections"]] == [
        ["read-csv", "clean-data"], ["charts"]]
    assert (detail["section_count"], detail["lesson_count"]) == (2, 3)
    assert detail["sections"][0]["lesson_count"] == 2
    assert slugs(get_json(api, "/courses/python-data/sections")["items"]) == ["loading", "plotting"]
    assert slugs(get_json(api, "/courses/python-data/lessons")["items"]) == ["read-csv", "clean-data", "charts"]
    assert slugs(get_json(api, "/courses/python-data/lessons", section="loading")["items"]) == ["read-csv",
                                                                                                "clean-data"]


def test_prev_and_next_skip_hidden_lessons_and_sections(api: httpx.Client) -> None:
    assert get_json(api, "/courses/python-data/lessons/read-csv")["next"]["slug"] == "clean-data"
    clean = get_json(api, "/courses/python-data/lessons/clean-data")
    assert (clean["prev"]["slug"], clean["next"]["slug"]) == ("read-csv", "charts")
    assert get_json(api, "/courses/python-data/lessons/charts")["prev"]["slug"] == "clean-data"


def test_hidden_courses_are_left_out_of_every_list(api: httpx.Client) -> None:
    hidden = {"advanced-testing", "legacy-flash", "future-launch"}
    for params in ({}, {"difficulty_level": "beginner"}, {"category": "design"}, {"category": "data"},
                   {"tag": "basics"}, {"page_size": 100, "sort": "title"}):
        assert not hidden & set(slugs(get_json(api, "/courses", **params)["items"]))
    assert get_json(api, "/courses/ui-design-basics")["prerequisites"] == []
    for author in ("grace-tester", "ada-builder"):
        assert not hidden & set(slugs(get_json(api, f"/authors/{author}")["courses"]))
    for path in get_json(api, "/paths")["items"]:
        assert not hidden & set(slugs(path["courses"]))
        assert not hidden & set(slugs(get_json(api, f"/paths/{path['slug']}")["courses"]))


def test_hidden_projects_and_paths_are_left_out_of_lists(api: httpx.Client) -> None:
    assert "secret-prototype" not in slugs(get_json(api, "/projects", page_size=100)["items"])
    assert "secret-prototype" not in slugs(get_json(api, "/projects", tech="python")["items"])
    assert "secret-path" not in slugs(get_json(api, "/paths")["items"])


def test_publish_at_is_evaluated_at_read_time(tmp_path: Path) -> None:
    """A course indexed before its publish_at appears once that moment passes, with no re-index."""
    site = index_site(make_repo(tmp_path / "site", SITE))
    with running_server(site, tmp_path) as served, checked_client(served.base_url, Collector()) as client:
        moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        written = moment.astimezone(timezone(timedelta(hours=2)))  # the index must compare it in UTC
        course = site.file("courses/soon/course.md")
        course.parent.mkdir()
        course.write_text(f"---\ntitle: Soon\nstatus: published\npublish_at: {written.isoformat()}\n---\nSoon.\n")
        git(site.repo, "add", "--all")
        git(site.repo, "commit", "--quiet", "--message", "Add a course published soon")
        update(ContentTree.locate(site.content), site.db_path)
        before = client.get("/courses/soon")
        listed_before = slugs(client.get("/courses").json()["items"])
        if datetime.now(UTC) >= moment:
            pytest.skip("indexing took longer than the publish_at margin")
        assert before.status_code == 404
        assert "soon" not in listed_before
        assert client.get("/meta").json()["counts"]["courses"] == 1
        while datetime.now(UTC) < moment + timedelta(seconds=1):
            time.sleep(0.1)
        assert client.get("/courses/soon").status_code == 200
        listed = client.get("/courses").json()["items"]
        assert set(slugs(listed)) == {"soon", "intro-to-testing"}
        assert next(c for c in listed if c["slug"] == "soon")["publish_at"] == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert client.get("/meta").json()["counts"]["courses"] == 2


def index_site(repo: Path) -> Site:
    tree = ContentTree.locate(repo / "content")
    db_path = database_path(tree, None)
    update(tree, db_path)
    return Site(repo=repo, content=tree.content_dir, db_path=db_path)


# --- caching, CORS ----------------------------------------------------------------------------------------------

CACHED_ROUTES = ["/courses", "/courses?sort=title&page_size=2", "/courses/intro-to-testing",
                 "/courses/intro-to-testing/sections", "/courses/intro-to-testing/sections/basics",
                 "/courses/intro-to-testing/lessons", "/courses/intro-to-testing/lessons/first-test",
                 "/projects", "/projects/test-dashboard", "/authors", "/authors/grace-tester", "/categories",
                 "/paths", "/paths/data-path", "/media/testing-cover", "/search?q=data", "/meta"]


@pytest.mark.parametrize("path", CACHED_ROUTES)
def test_strong_etag_and_not_modified(api: httpx.Client, path: str) -> None:
    first = api.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[^"\s]+"', etag), etag
    assert first.headers["cache-control"] == f"public, max-age={CACHE_MAX_AGE}"
    assert api.get(path).headers["etag"] == etag
    for header in (etag, f'"stale", {etag}', "*", f"W/{etag}"):
        again = api.get(path, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == f"public, max-age={CACHE_MAX_AGE}"
    for header in ('"stale"', etag.strip('"')):
        changed = api.get(path, headers={"If-None-Match": header})
        assert changed.status_code == 200, header
        assert changed.content == first.content


def test_each_representation_has_its_own_etag(api: httpx.Client) -> None:
    etags = {api.get(path).headers["etag"] for path in CACHED_ROUTES}
    assert len(etags) == len(CACHED_ROUTES)


def test_cors_allows_the_configured_origin_only(api: httpx.Client) -> None:
    allowed = api.get("/courses", headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = api.get("/courses", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers
    preflight = api.options("/courses", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    refused = api.options("/courses", headers={"Origin": "https://evil.example",
                                                "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in refused.headers


# --- what no response may carry ---------------------------------------------------------------------------------


def test_every_response_is_checked_for_leaks(api: httpx.Client, api_collector: Collector) -> None:
    """The leak check runs on this client's responses, and it can fail."""
    before = api_collector.json_bodies
    for path in ("/courses/intro-to-testing/lessons/check-yourself", "/authors", "/authors/grace-tester",
                 "/authors/ada-builder", "/courses/intro-to-testing"):
        body = api.get(path).text
        assert not any(email in body for email in EMAILS)
        assert "@" not in body.replace("https://", "")
    assert api_collector.json_bodies == before + 5
    probe = Collector()
    for leak in ('{"email": "x"}', '{"questions": [{"answer": 1}]}', '{"a": [{"explanation": "e"}]}',
                 '{"bio": "mail grace@example.com"}', '{"title": "zanzibarsecret"}'):
        response = httpx.Response(200, headers={"content-type": "application/json"}, content=leak.encode(),
                                  request=httpx.Request("GET", "http://test/x"))
        with pytest.raises(AssertionError):
            check_response(probe, response)
