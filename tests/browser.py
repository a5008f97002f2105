"""A real browser for the tests of pages: Debian's Chromium under Playwright.

Playwright downloads no browser here: the fixture uses the `chromium` on the PATH (CI installs Debian's
package, see .ci/run) and skips, saying why, where there is none. `watch` records what a page asked for
and what went wrong while it loaded.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


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


@dataclass
class Traffic:
    """A page's requests, its failed requests (and answers of 400 or more) and its console errors."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def watch(page: Any) -> Traffic:
    """Record `page`'s traffic and errors from now on."""
    traffic = Traffic()
    page.on("request", lambda request: traffic.requests.append(request.url))
    page.on("requestfailed", lambda request: traffic.failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400
            and traffic.failed.append(f"{response.url}: {response.status}"))
    page.on("console", lambda message: message.type == "error" and traffic.errors.append(message.text))
    page.on("pageerror", lambda error: traffic.errors.append(str(error)))
    return traffic
