"""A reviewer opens an AI draft's preview link in a real browser: Debian's Chromium under Playwright.

The draft is made as users make it: a real `cms serve` (with CMS_SECRET_KEY and a first admin) asks the
local fake Gemini of `tests/ai/test_drafts.py` through `POST /api/v1/ai/drafts`, which answers with the
draft's preview link. The browser opens that link with no account and no token, and must show the draft's
heading and body with no script on the page, no failed request and no console error. Its screenshot is kept
in a temporary folder: the test prints the path (`-s` shows it) and records it in the test report.

Playwright downloads no browser here: the test uses the `chromium` on the PATH (CI installs Debian's
package, see .ci/run) and is skipped, saying why, where there is none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.ai.test_drafts import BRANCH, DRAFT_BODY, GOOD, KEY, MODEL, FakeGemini
from tests.api_server import BASE, Site, build_site, running_server
from tests.browser import watch

pytest_plugins = ["tests.browser"]

SECRET = "a-browser-test-secret-key-long-enough-0123456789"
ADMIN, PASSWORD = "ada", "password-for-browser-1"


@pytest.fixture
def server(tmp_path: Path, httpserver: HTTPServer) -> Iterator[Site]:
    """`cms serve` over the test site, with the admin API, a first admin and Gemini at the local fake."""
    FakeGemini(httpserver).will(GOOD)
    settings = {"CMS_SECRET_KEY": SECRET, "FIRST_SUPERUSER": ADMIN, "FIRST_SUPERUSER_PASSWORD": PASSWORD,
                "GEMINI_API_KEY": KEY, "GEMINI_MODEL": MODEL, "GOOGLE_GEMINI_BASE_URL": httpserver.url_for("/")}
    with running_server(build_site(tmp_path / "site"), tmp_path, **settings) as site:
        yield site


def draft_preview_link(site: Site) -> str:
    """The preview link `POST /ai/drafts` answers with, for a draft made through the real flow."""
    with httpx.Client(base_url=f"{site.base_url}{BASE}", timeout=60) as client:
        login = client.post("/auth/login", json={"username": ADMIN, "password": PASSWORD})
        assert login.status_code == 200, login.text
        drafted = client.post("/ai/drafts", json=DRAFT_BODY,
                              headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert drafted.status_code == 201, drafted.text
    assert drafted.json()["branch"] == BRANCH
    url: str = drafted.json()["preview_url"]
    assert url.startswith(f"{site.base_url}/preview/courses/intro-to-testing/lessons/testing-with-fixtures?ref=")
    return url


def test_a_reviewer_opens_the_preview_link_of_an_ai_draft(browser: Any, server: Site,
                                                          tmp_path_factory: pytest.TempPathFactory,
                                                          record_property: Callable[[str, object], None]) -> None:
    url = draft_preview_link(server)
    host = urlsplit(server.base_url).netloc
    page = browser.new_page()
    traffic = watch(page)
    response = page.goto(url, wait_until="networkidle")
    assert response is not None and response.status == 200
    heading = page.locator("h1").inner_text()
    sections = page.locator("article h2").all_inner_texts()
    body = page.locator(".body").inner_text()
    previous = page.locator("a[rel=prev]").all_inner_texts()
    scripts = page.locator("script").count()
    html = page.content()
    screenshot = tmp_path_factory.mktemp("preview-screenshots") / "ai-draft-preview.png"
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    print(f"screenshot: {screenshot}")
    record_property("screenshot", str(screenshot))
    assert heading.startswith("Testing with fixtures") and "draft" in heading.lower()
    assert "Why fixtures" in sections and "Your own fixture" in sections
    assert "A fixture gives every test a fresh, known world to run in" in body
    assert previous == ["← Check yourself"], previous
    assert scripts == 0 and "<script" not in html.lower()
    assert not traffic.failed and not traffic.errors, (traffic.failed, traffic.errors)
    assert traffic.requests and all(urlsplit(request).netloc == host for request in traffic.requests), \
        traffic.requests
    assert any(request.endswith("/preview/preview.css") for request in traffic.requests)
    assert screenshot.stat().st_size > 10_000
