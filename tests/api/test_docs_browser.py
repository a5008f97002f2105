"""The docs page in a real browser, as a developer with no internet opens it: Debian's Chromium under Playwright.

The page must list every operation of the document, with no failed request and no request to any host but
the server. Playwright downloads no browser here: the test uses the `chromium` on the PATH (CI installs
Debian's package, see .ci/run) and is skipped, saying why, where there is none.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api_server import BASE, Site

pytest_plugins = ["tests.api_server"]

CHROMIUM = shutil.which("chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
OPERATION = ".opblock"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no chromium on the PATH: `apt-get install -y chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_docs_page_lists_every_operation_offline(browser: Any, api_site: Site) -> None:
    document = httpx.get(f"{api_site.base_url}{BASE}/docs/openapi.json").json()
    expected = sum(1 for item in document["paths"].values() for method in item if method != "parameters")
    server = urlsplit(api_site.base_url).netloc
    requests: list[str] = []
    failed: list[str] = []
    page = browser.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and failed.append(f"{response.url}: {response.status}"))
    page.goto(f"{api_site.base_url}{BASE}/docs", wait_until="networkidle")
    page.wait_for_selector(OPERATION, timeout=15_000)
    shown = page.locator(OPERATION).count()
    page.close()
    assert shown == expected, f"the page shows {shown} operations, the document has {expected}"
    assert not failed
    assert requests and all(urlsplit(url).netloc == server for url in requests if not url.startswith("data:")), \
        requests
