"""Bad requests get RFC 9457 problem bodies, never a 500: unknown and bad parameters, hostile paths."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

pytest.register_assert_rewrite("tests.api_server")


from cms.settings import Settings  # noqa: E402
from tests.api_server import BASE, Site  # noqa: E402
from tests.conftest import SITE, make_repo, started_app  # noqa: E402

pytest_plugins = ["tests.api_server"]

PROBLEM = "application/problem+json"
LONG = "a" * 300


def assert_problem(response: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert set(body) <= {"type", "title", "status", "detail", "errors"}
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:coursebase:problem:")
    assert body["title"] and body["detail"]
    return body


@pytest.mark.parametrize("path", ["/courses", "/courses/intro-to-testing", "/courses/intro-to-testing/sections",
                                  "/courses/intro-to-testing/sections/basics", "/courses/intro-to-testing/lessons",
                                  "/courses/intro-to-testing/lessons/why-test", "/projects",
                                  "/projects/test-dashboard", "/authors", "/authors/grace-tester", "/categories",
                                  "/paths", "/paths/data-path", "/media/testing-cover", "/search?q=data", "/meta",
                                  "/health"])
def test_unknown_query_parameter_is_refused_and_named(api: httpx.Client, path: str) -> None:
    joiner = "&" if "?" in path else "?"
    body = assert_problem(api.get(f"{path}{joiner}pagesize=5&colour=red"), 400)
    assert [error["key"] for error in body["errors"]] == ["colour", "pagesize"]
    assert all(error["source"] == "query" for error in body["errors"])
    assert "unknown query parameter 'colour'" in body["errors"][0]["message"]


def test_unknown_parameter_message_lists_what_is_allowed(api: httpx.Client) -> None:
    body = assert_problem(api.get("/courses", params={"difficulty": "beginner"}), 400)
    message = body["errors"][0]["message"]
    for name in ("difficulty_level", "category", "tag", "instructor", "q", "min_price", "max_price", "sort", "page",
                 "page_size"):
        assert name in message


@pytest.mark.parametrize(("path", "params", "key"), [
    ("/courses", {"page_size": "0"}, "page_size"),
    ("/courses", {"page_size": "101"}, "page_size"),
    ("/courses", {"page_size": "abc"}, "page_size"),
    ("/courses", {"page_size": "-1"}, "page_size"),
    ("/courses", {"page_size": "2.5"}, "page_size"),
    ("/courses", {"page": "0"}, "page"),
    ("/courses", {"page": "-3"}, "page"),
    ("/courses", {"page": "x"}, "page"),
    ("/courses", {"page": "99999999999999999999999"}, "page"),
    ("/courses", {"sort": "bogus"}, "sort"),
    ("/courses", {"sort": "updated_at"}, "sort"),
    ("/courses", {"sort": "-title"}, "sort"),
    ("/courses", {"sort": "price; DROP TABLE courses"}, "sort"),
    ("/courses", {"sort": ""}, "sort"),
    ("/courses", {"min_price": "-1"}, "min_price"),
    ("/courses", {"min_price": "cheap"}, "min_price"),
    ("/courses", {"min_price": "nan"}, "min_price"),
    ("/courses", {"max_price": "-0.5"}, "max_price"),
    ("/courses", {"max_price": "1e400"}, "max_price"),
    ("/courses", {"difficulty_level": "expert"}, "difficulty_level"),
    ("/courses", {"difficulty_level": "Beginner"}, "difficulty_level"),
    ("/courses", {"category": ""}, "category"),
    ("/courses", {"tag": ""}, "tag"),
    ("/courses", {"instructor": ""}, "instructor"),
    ("/courses", {"q": ""}, "q"),
    ("/courses", {"q": "x" * 201}, "q"),
    ("/courses/intro-to-testing/lessons", {"section": ""}, "section"),
    ("/projects", {"featured": "maybe"}, "featured"),
    ("/projects", {"page_size": "101"}, "page_size"),
    ("/projects", {"tech": ""}, "tech"),
    ("/projects", {"project_type": "p" * 201}, "project_type"),
    ("/search", {"q": ""}, "q"),
    ("/search", {"q": "data", "kind": "author"}, "kind"),
    ("/search", {"q": "data", "course": ""}, "course"),
    ("/search", {"q": "data", "course": "c" * 81}, "course"),
    ("/search", {"q": "data", "page": "0"}, "page"),
])
def test_bad_values_are_refused_and_named(api: httpx.Client, path: str, params: dict[str, str], key: str) -> None:
    body = assert_problem(api.get(path, params=params), (400, 422))
    assert key in [error.get("key") for error in body["errors"]], body
    assert all(error["message"] for error in body["errors"])


def test_missing_search_words_are_explained(api: httpx.Client) -> None:
    body = assert_problem(api.get("/search"), 400)
    assert body["errors"], body
    assert "'q'" in body["errors"][0]["message"]


@pytest.mark.parametrize("path", [
    "/courses/..%2F..%2Fetc",
    "/courses/..%2f..%2f..%2fetc%2fpasswd",
    "/courses/%2e%2e",
    "/courses/%2e%2e/%2e%2e/etc/passwd",
    "/courses/%252e%252e%252fetc",
    "/courses/%00",
    "/courses/a%00b",
    "/courses/intro-to-testing%00",
    "/courses/intro-to-testing/lessons/why-test%00",
    "/courses/a%00b/lessons/x",
    f"/courses/{LONG}",
    f"/courses/{LONG}/sections",
    f"/courses/intro-to-testing/lessons/{LONG}",
    f"/courses/intro-to-testing/sections/{LONG}",
    f"/projects/{LONG}",
    f"/authors/{LONG}",
    f"/paths/{LONG}",
    f"/media/{LONG}",
    "/courses/caf%C3%A9",
    "/courses/%F0%9F%98%80",
    "/courses/%ff%fe",
    "/courses/%C0%AE%C0%AE",
    "/courses/%20",
    "/courses/%0d%0aSet-Cookie:%20x=1",
    "/media/..%2f..%2f.git%2fconfig",
    "/authors/..%5c..%5cwindows",
    "/paths/%2e",
    "/courses/intro-to-testing/lessons/%2e%2e%2f%2e%2e%2fcourses",
])
def test_hostile_paths_are_not_found_never_errors(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert_problem(response, (400, 404))
    assert "set-cookie" not in response.headers


SEARCH_WORDS = ["q=%ff%fe", "q=%00", "q=%22", "q=*", "q=NEAR(a%20b)", "q=a%20OR%20b", "q=-x", "q=%5E", "q=%F0%9F%98%80",
                "q=" + "word%20" * 28, "q=%22%20OR%20NEAR(a", "q=a:b", "q=%7B%7D"]
HOSTILE_QUERIES = [
    *[f"/{route}?{words}" for route in ("courses", "projects", "search") for words in SEARCH_WORDS],
    "/courses?category=%00", "/courses?tag=%25", "/courses?instructor=_", "/courses?category=%ff",
    "/courses/intro-to-testing/lessons?section=%00", "/search?q=data&course=%00",
]


@pytest.mark.parametrize("target", HOSTILE_QUERIES)
def test_hostile_query_values_answer_cleanly(api: httpx.Client, target: str) -> None:
    response = api.get(target)
    if response.status_code == 200:
        body = response.json()
        assert isinstance(body if isinstance(body, list) else body["items"], list)
    else:
        assert_problem(response, (400, 404, 422))


def test_injection_attempts_match_nothing(api: httpx.Client) -> None:
    for params in ({"category": "' OR 1=1 --"}, {"tag": "basics' OR '1'='1"}, {"instructor": "%"}):
        body = api.get("/courses", params=params).json()
        assert (body["items"], body["total"]) == ([], 0)


def raw_get(site: Site, target: str) -> tuple[int, bytes]:
    """A GET sent as written: no client-side normalisation of `..` or encodings."""
    host, port = site.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize("target", [
    f"{BASE}/courses/x/lessons/../../y",
    f"{BASE}/courses/intro-to-testing/lessons/../../../../etc/passwd",
    f"{BASE}/courses/../../../etc/passwd",
    f"{BASE}/media/../../.git/config",
    f"{BASE}/courses/./intro-to-testing/../advanced-testing",
    f"{BASE}/courses//advanced-testing",
])
def test_raw_dot_segments_never_reach_hidden_or_outside_content(api_site: Site, target: str) -> None:
    status, body = raw_get(api_site, target)
    assert status in (400, 404), (status, body[:300])
    assert b"[core]" not in body and b"root:" not in body


@pytest.mark.parametrize("path", [f"{BASE}/nope", f"{BASE}/courses/intro-to-testing/lessons/why-test/extra",
                                  "/nope", f"{BASE}/", f"{BASE}/courses/intro-to-testing/videos"])
def test_unknown_routes_get_a_problem_body(api_site: Site, api: httpx.Client, path: str) -> None:
    body = assert_problem(api.get(f"{api_site.base_url}{path}"), 404)
    assert body["title"] == "Not found"


def test_unsupported_methods_get_a_problem_body(api: httpx.Client) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = api.request(method, "/meta")
        assert_problem(response, 405)
        assert "GET" in response.headers["allow"]


def test_not_found_is_not_cached_publicly(api: httpx.Client) -> None:
    response = api.get("/courses/no-such-course")
    assert_problem(response, 404)
    assert "public" not in response.headers.get("cache-control", "")
    assert "etag" not in response.headers


def test_an_unexpected_error_is_a_plain_500_problem(tmp_path: Path) -> None:
    """An index whose tables (stored documents too) vanish under the server makes every query fail: the answer
    says so without internals."""
    repo = make_repo(tmp_path / "site", SITE)
    index_path = tmp_path / "index.db"
    app = started_app(Settings.from_env({"CMS_CONTENT_DIR": str(repo / "content")}), index_path=index_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        with sqlite3.connect(index_path) as conn:
            for table in ("courses", "lessons", "documents", "search", "meta"):
                conn.execute(f"DROP TABLE {table}")
        for path in ("/courses", "/courses/intro-to-testing", "/search?q=data", "/meta"):
            response = client.get(f"{BASE}{path}")
            body = assert_problem(response, 500)
            assert body["detail"] == "The server could not answer this request."
            for internal in ("Traceback", "sqlite", "no such table", "File \"", ".py", "OperationalError"):
                assert internal not in response.text
