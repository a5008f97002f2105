"""Held answers: anonymous reads are reused while the index is unchanged, and never once it changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from litestar.testing import TestClient

from api.caching import HELD_BYTES, HeldAnswers, Prepared
from cms.content.corpus import ContentTree
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.read.connection import reading
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
    _publish_soon(site, 12)  # long enough for a slow start-up (a busy machine) to answer before the moment
    with _app(site, "60") as client:
        assert "advanced-testing" not in _slugs(client)
        time.sleep(12.5)
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


def test_held_answers_stay_within_their_byte_budget() -> None:
    held = HeldAnswers(60)
    body = b"x" * (HELD_BYTES // 4 + 1)
    for n in range(8):
        held.put((f"/api/v1/x/{n}", b""), Prepared(start={"status": 200, "headers": []}, etag=b'"x"', body=body,
                                                  index_version=(0, 0), until=time.monotonic() + 60))
        assert held.size == sum(len(answer.body) for answer in held.entries.values()) <= HELD_BYTES
    assert list(held.entries) == [(f"/api/v1/x/{n}", b"") for n in (5, 6, 7)], "the oldest answers go first"


LESSON = "/api/v1/courses/intro-to-testing/lessons/first-test"


def test_a_stored_lesson_is_answered_with_its_stored_body_and_etag(site: Path) -> None:
    with _app(site, "0") as client:
        tree = ContentTree.locate(site / "content")
        with reading(database_path(tree, None)) as conn:
            body, etag = conn.execute("SELECT body, etag FROM documents WHERE key = ?",
                                      ["course/intro-to-testing/lesson/first-test"]).fetchone().values()
        answer = client.get(LESSON)
        assert answer.content == body and answer.headers["etag"] == etag
        assert client.get(LESSON, headers={"If-None-Match": f"W/{etag}"}).status_code == 304
        head = client.head(LESSON)
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
        assert head.headers["content-length"] == str(len(body))
        assert client.get("/api/v1/courses/intro-to-testing/lessons/nope").status_code == 404
        assert client.get("/api/v1/courses/advanced-testing/lessons/fakes").status_code == 404, "a draft"


def test_the_course_list_is_kept_without_the_hold_until_a_scheduled_course_goes_live(site: Path) -> None:
    _publish_soon(site, 8)  # long enough for a slow start-up (a busy machine) to answer before the moment
    with _app(site, "0") as client:
        first = client.get("/api/v1/courses")
        assert "advanced-testing" not in [c["slug"] for c in first.json()["items"]]
        assert client.get("/api/v1/courses").headers["etag"] == first.headers["etag"]
        time.sleep(8.5)
        assert "advanced-testing" in _slugs(client), "the kept page ends when the course's publish_at passes"


def test_a_kept_course_list_ends_when_the_index_changes(site: Path) -> None:
    with _app(site, "0") as client:
        assert "advanced-testing" not in _slugs(client)
        _publish_soon(site, -60)
        assert "advanced-testing" in _slugs(client)
