"""The contract a front end builds on, over real HTTP: one shape per thing, every list a page, HEAD and OPTIONS on
every path, CORS headers a page can read, and a health answer that is never cached.

The shape test walks every GET route of the API site (lists and details, every page) and checks that each
referenced kind (an author, a category, a media record, a course, a lesson's section) is the same object
wherever it appears.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from cms.content.corpus import ContentTree
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.settings import Settings
from tests.api_server import ALLOWED_ORIGIN, BASE
from tests.conftest import git

pytest_plugins = ["tests.api_server"]

LISTS = ["/courses", "/projects", "/authors", "/categories", "/paths", "/search?q=data",
         "/courses/intro-to-testing/sections", "/courses/intro-to-testing/lessons",
         "/courses/python-data/sections", "/courses/python-data/lessons"]
MEDIA = {"id", "version", "public_id", "resource_type", "secure_url", "format", "width", "height", "bytes",
         "duration_ms", "alt"}
REFERENCE_KEYS = {
    "instructor": {"slug", "name", "avatar"},
    "category": {"slug", "name"},
    "image": MEDIA, "thumbnail": MEDIA, "avatar": MEDIA, "media": MEDIA,
    "prerequisites": {"slug", "title"},
}
"""Keys that name another entry, and the keys of the object they always are (None allowed)."""


def every_get(api: httpx.Client) -> dict[str, Any]:
    """Every GET answer of the site: the lists, then the detail of every item they list."""
    answers: dict[str, Any] = {path: api.get(paged(path, 100)).json() for path in LISTS}
    details = [f"/courses/{item['slug']}" for item in answers["/courses"]["items"]]
    details += [f"/projects/{item['slug']}" for item in answers["/projects"]["items"]]
    details += [f"/authors/{item['slug']}" for item in answers["/authors"]["items"]]
    details += [f"/paths/{item['slug']}" for item in answers["/paths"]["items"]]
    for course in ("intro-to-testing", "python-data"):
        details += [f"/courses/{course}/sections/{item['slug']}"
                    for item in answers[f"/courses/{course}/sections"]["items"]]
        details += [f"/courses/{course}/lessons/{item['slug']}"
                    for item in answers[f"/courses/{course}/lessons"]["items"]]
    for path in details:
        response = api.get(path)
        assert response.status_code == 200, (path, response.text)
        answers[path] = response.json()
    return answers


def paged(path: str, size: int) -> str:
    return f"{path}{'&' if '?' in path else '?'}page_size={size}"


def walk(value: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    yield key, value
    if isinstance(value, dict):
        for name, item in value.items():
            yield from walk(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item, key)


def test_every_reference_is_the_same_object_wherever_it_appears(api: httpx.Client) -> None:
    seen: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for path, answer in every_get(api).items():
        for key, value in walk(answer):
            if key in REFERENCE_KEYS and value is not None and not isinstance(value, list):
                assert isinstance(value, dict) and set(value) == REFERENCE_KEYS[key], (path, key, value)
                seen[(key, value.get("slug") or value["id"])].append(value)
    assert len(seen) > 10
    for (key, name), values in seen.items():
        assert all(value == values[0] for value in values), (key, name)
    media = {name: values[0] for (key, name), values in seen.items() if REFERENCE_KEYS[key] is MEDIA}
    for name, record in media.items():
        assert api.get(f"/media/{name}").json() == record, "a media reference is the media record"


def test_list_items_are_their_details_summaries(api: httpx.Client) -> None:
    answers = every_get(api)
    for listing, detail in (("/courses", "/courses/{}"), ("/projects", "/projects/{}"), ("/authors", "/authors/{}"),
                            ("/paths", "/paths/{}"), ("/courses/python-data/sections",
                                                      "/courses/python-data/sections/{}"),
                            ("/courses/python-data/lessons", "/courses/python-data/lessons/{}")):
        for item in answers[listing]["items"]:
            full = answers[detail.format(item["slug"])]
            assert {key: full[key] for key in item} == item, (listing, item["slug"])
    outline = answers["/courses/python-data"]["sections"]
    for section in outline:
        summary = {key: value for key, value in section.items() if key != "lessons"}
        assert summary in answers["/courses/python-data/sections"]["items"]
        for lesson in section["lessons"]:
            assert lesson in answers["/courses/python-data/lessons"]["items"]
            assert lesson["section"] == {"slug": section["slug"], "title": section["title"], "order": section["order"]}


def test_lessons_and_sections_say_order_and_reads_say_body(api: httpx.Client) -> None:
    keys = {key for key, _ in walk(every_get(api))}
    assert not keys & {"section_order", "lesson_order", "markdown"}
    lesson = api.get("/courses/python-data/lessons/charts").json()
    assert isinstance(lesson["body"], str) and lesson["order"] >= 1 and set(lesson["section"]) == {"slug", "title",
                                                                                                  "order"}


def test_every_list_is_a_page_with_links(api: httpx.Client) -> None:
    for path in LISTS:
        response = api.get(paged(path, 1))
        body = response.json()
        assert set(body) == {"items", "total", "page", "page_size"}, path
        assert (body["page"], body["page_size"], len(body["items"])) == (1, 1, min(1, body["total"])), path
        assert ('rel="next"' in response.headers.get("link", "")) == (body["total"] > 1), path


def test_search_hits_carry_their_public_path_and_a_higher_is_better_score(api: httpx.Client) -> None:
    hits = api.get("/search", params={"q": "data"}).json()["items"]
    assert hits
    for hit in hits:
        assert api.get(hit["path"]).status_code == 200, hit  # the API has the same path under /api/v1
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("path", ["/courses", "/courses/intro-to-testing", "/courses/intro-to-testing/lessons",
                                  "/search?q=data", "/health", "/docs"])
def test_head_answers_like_get_without_the_body(api: httpx.Client, path: str) -> None:
    got, head = api.get(path), api.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    for header in ("content-type", "etag", "content-length", "cache-control"):
        assert head.headers.get(header) == got.headers.get(header), header


def test_head_of_a_missing_entry_is_404(api: httpx.Client) -> None:
    assert api.head("/courses/no-such-course").status_code == 404


@pytest.mark.parametrize(("path", "methods"), [
    ("/courses", "GET, HEAD, OPTIONS, POST"),
    ("/courses/intro-to-testing", "DELETE, GET, HEAD, OPTIONS, PUT"),
    ("/courses/intro-to-testing/lessons/first-test", "DELETE, GET, HEAD, OPTIONS, PUT"),
    ("/courses/intro-to-testing/publish", "OPTIONS, PATCH"),
    ("/media/testing-cover", "DELETE, GET, HEAD, OPTIONS, PATCH"),
    ("/users/1", "DELETE, GET, HEAD, OPTIONS, PUT"),
])
def test_options_lists_every_method_and_needs_no_token(api: httpx.Client, path: str, methods: str) -> None:
    response = api.options(path)
    assert response.status_code == 204 and response.content == b""
    assert response.headers["allow"] == methods


def test_a_cors_preflight_for_a_write_needs_no_token(api: httpx.Client) -> None:
    response = api.options("/courses/intro-to-testing", headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, if-match, content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "PUT" in response.headers["access-control-allow-methods"]


def test_cors_exposes_the_headers_a_client_reads(api: httpx.Client) -> None:
    response = api.get("/courses", params={"page_size": 1}, headers={"Origin": ALLOWED_ORIGIN})
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "link", "location"} <= exposed
    assert "access-control-allow-credentials" not in response.headers, "off unless CMS_CORS_CREDENTIALS"


def test_health_is_never_cached_and_counts_problems(api: httpx.Client) -> None:
    first = api.get("/health")
    assert first.headers["cache-control"] == "no-store" and "etag" not in first.headers
    assert first.json()["problems"] == 0 and first.json()["status"] == "ok"


@pytest.fixture
def credentialed(site: Path) -> Iterator[TestClient[Any]]:
    tree = ContentTree.locate(site / "content")
    update(tree, database_path(tree, None))
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(tree.content_dir), "CMS_CORS_ORIGINS": ALLOWED_ORIGIN,
                                  "CMS_CORS_CREDENTIALS": "true", "CMS_SECRET_KEY": "s" * 40,
                                  "CMS_STATE_URL": f"sqlite:///{site / 'state.db'}",
                                  "FIRST_SUPERUSER": "ada", "FIRST_SUPERUSER_PASSWORD": "password-for-tests-1"})
    with TestClient(create_app(settings)) as client:
        yield client


def test_cors_credentials_let_another_origin_use_the_refresh_cookie(credentialed: TestClient[Any]) -> None:
    preflight = credentialed.options(f"{BASE}/auth/refresh", headers={"Origin": ALLOWED_ORIGIN,
                                                                     "Access-Control-Request-Method": "POST"})
    assert preflight.headers["access-control-allow-credentials"] == "true"
    login = credentialed.post(f"{BASE}/auth/login", json={"username": "ada", "password": "password-for-tests-1"},
                              headers={"Origin": ALLOWED_ORIGIN})
    assert login.status_code == 200, login.text
    cookie = login.headers["set-cookie"]
    assert "samesite=none" in cookie.lower() and "Secure" in cookie and "HttpOnly" in cookie


def test_health_counts_the_problems_the_index_holds(site: Path) -> None:
    broken = site / "content" / "projects" / "broken.md"
    broken.write_text("---\ntitle: Broken\nstatus: nonsense\n---\nBody.\n")
    git(site, "add", "--all")
    git(site, "commit", "--quiet", "--message", "A broken project")
    tree = ContentTree.locate(site / "content")
    update(tree, database_path(tree, None))
    with TestClient(create_app(Settings.from_env({"CMS_CONTENT_DIR": str(tree.content_dir)}))) as client:
        health = client.get(f"{BASE}/health")
    assert health.json()["problems"] >= 1 and health.headers["cache-control"] == "no-store"
