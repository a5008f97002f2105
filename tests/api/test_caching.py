"""Held answers: anonymous reads are reused while the index is unchanged, and never once it changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from litestar.testing import TestClient

from api.caching import HeldAnswers, Prepared
from cms.content.corpus import ContentTree
from cms.index.build import database_path, update
from cms.settings import Settings
from tests.conftest import git, started_app

COURSE = "content/courses/advanced-testing/course.md"


def _app(site: Path, hold: str) -> TestClient:  # type: ignore[type-arg]
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(site / "content"), "CMS_RESPONSE_HOLD_SECONDS": hold})
    return TestClient(started_app(settings))


def _publish_soon(site: Path, seconds: float) -> None:
    """Publish the draft course with a `publish_at` a moment away, committed and indexed."""
    moment = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = site / COURSE
    path.write_text(path.read_text().replace("status: draft", f"status: published\npublish_at: {moment}"))
    git(site, "commit", "--quiet", "--all", "--message", "Publish soon")
    tree = ContentTree.locate(site / "content")
    update(tree, database_path(tree, None))


def _slugs(client: TestClient) -> list[str]:  # type: ignore[type-arg]
    return [course["slug"] for course in client.get("/api/v1/courses").json()["items"]]


def test_an_answer_is_held_while_the_index_is_unchanged(site: Path) -> None:
    _publish_soon(site, 5)  # long enough for a slow start-up to answer before the moment
    with _app(site, "60") as client:
        assert "advanced-testing" not in _slugs(client)
        time.sleep(5.5)
        assert "advanced-testing" not in _slugs(client), "the held answer is reused"
        with_credentials = client.get("/api/v1/courses", headers={"Authorization": "Bearer any"}).json()
        assert "advanced-testing" in [c["slug"] for c in with_credentials["items"]], \
            "a request with credentials is never answered from the hold"
    with _app(site, "0") as client:
        assert "advanced-testing" in _slugs(client), "without holding, publish_at is checked on every read"


def test_an_index_update_ends_every_held_answer_at_once(site: Path) -> None:
    with _app(site, "60") as client:
        first = client.get("/api/v1/courses")
        assert "advanced-testing" not in _slugs(client)
        _publish_soon(site, -60)
        second = client.get("/api/v1/courses")
        assert "advanced-testing" in [c["slug"] for c in second.json()["items"]]
        assert second.headers["etag"] != first.headers["etag"]


def test_held_answers_keep_etags_and_304s(site: Path) -> None:
    with _app(site, "60") as client:
        etag = client.get("/api/v1/courses").headers["etag"]
        again = client.get("/api/v1/courses", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["etag"] == etag


def test_held_answers_are_keyed_by_path_query_index_version_and_time() -> None:
    held = HeldAnswers(60)
    answer = Prepared(start={"status": 200, "headers": []}, etag=b'"x"', body=b"{}", index_version=1,
                      until=time.monotonic() + 60)
    held.put(("/api/v1/courses", b""), answer)
    assert held.get(("/api/v1/courses", b""), 1) is answer
    assert held.get(("/api/v1/courses", b""), 2) is None, "another index version"
    assert held.get(("/api/v1/courses", b"page=2"), 1) is None, "another query"
    expired = Prepared(start=answer.start, etag=answer.etag, body=answer.body, index_version=1,
                       until=time.monotonic() - 1)
    held.put(("/api/v1/meta", b""), expired)
    assert held.get(("/api/v1/meta", b""), 1) is None, "past its time"
