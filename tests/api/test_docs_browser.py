"""The docs page in a real browser, as a developer with no internet opens it: Debian's Chromium under Playwright.

The page must list every operation of the document, with no failed request and no request to any host but
the server. Playwright downloads no browser here: the test uses the `chromium` on the PATH (CI installs
Debian's package, see .ci/run) and is skipped, saying why, where there is none.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.api_server import BASE, Site
from tests.browser import watch

pytest_plugins = ["tests.api_server", "tests.browser"]

OPERATION = ".opblock"


def test_docs_page_lists_every_operation_offline(browser: Any, api_site: Site) -> None:
    document = httpx.get(f"{api_site.base_url}{BASE}/docs/openapi.json").json()
    expected = sum(1 for item in document["paths"].values() for method in item if method != "parameters")
    server = urlsplit(api_site.base_url).netloc
    page = browser.new_page()
    traffic = watch(page)
    page.goto(f"{api_site.base_url}{BASE}/docs", wait_until="networkidle")
    page.wait_for_selector(OPERATION, timeout=15_000)
    shown = page.locator(OPERATION).count()
    page.close()
    assert shown == expected, f"the page shows {shown} operations, the document has {expected}"
    assert not traffic.failed and not traffic.errors, (traffic.failed, traffic.errors)
    assert traffic.requests and all(urlsplit(url).netloc == server for url in traffic.requests
                                    if not url.startswith("data:")), traffic.requests
