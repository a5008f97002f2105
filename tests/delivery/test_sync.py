"""`GET /sync` through the app on both state databases: publish, unpublish, delete, rename and `publish_at` passing,
collapsed per entry since any token; 410 for tokens the log does not know."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from cms.delivery.events import EntryChange
from cms.delivery.sync import collapse
from cms.settings import Settings
from tests.conftest import started_app
from tests.delivery.conftest import LESSON, Content, new_content

SECRET_KEY = "a-test-secret-key-long-enough-for-hs256-0123456789"
BASICS = "courses/intro-to-testing/01-basics"


@pytest.fixture
def client(content: Content, state_url: str) -> Iterator[TestClient[Any]]:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(content.content), "CMS_SECRET_KEY": SECRET_KEY,
                                  "CMS_STATE_URL": state_url})
    with TestClient(started_app(settings)) as test_client:
        yield test_client


def sync(client: TestClient[Any], since: str | None = None) -> dict[str, Any]:
    response = client.get("/api/v1/sync", params={} if since is None else {"since": since})
    assert response.status_code == 200, response.text
    return response.json()


def named(answer: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(entry["kind"], f"{entry['course']}/{entry['slug']}" if entry["course"] else entry["slug"],
             entry["change"]) for entry in answer["entries"]}


def test_sync_follows_publish_unpublish_delete_and_rename(client: TestClient[Any], content: Content) -> None:
    start = sync(client)
    assert ("lesson", "intro-to-testing/why-test", "created") in named(start)
    assert not [entry for entry in start["entries"] if entry["slug"] == "advanced-testing"]
    assert start["commit"] == content.head() and start["next"].startswith(content.head())
    tokens = [start["next"]]

    content.edit("courses/advanced-testing/course.md", "status: draft", "status: published")
    content.edit("courses/advanced-testing/01-mocking/01-fakes.md", "status: draft", "status: published")
    published = content.commit("publish advanced testing")
    step = sync(client, tokens[-1])
    assert named(step) == {("course", "advanced-testing", "created"),
                           ("section", "advanced-testing/mocking", "created"),
                           ("lesson", "advanced-testing/fakes", "created")}
    assert step["commit"] == published and step["since"] == tokens[-1]
    tokens.append(step["next"])

    content.edit("courses/intro-to-testing/02-practice/02-check-yourself.md", "---\n", "---\nstatus: draft\n")
    content.commit("unpublish a lesson")
    step = sync(client, tokens[-1])
    assert named(step) == {("lesson", "intro-to-testing/check-yourself", "unpublished")}
    assert step["entries"][0]["version"] is None
    tokens.append(step["next"])

    content.remove("courses/intro-to-testing/02-practice/01-cheat-sheet.md")
    content.commit("delete a lesson")
    step = sync(client, tokens[-1])
    assert named(step) == {("lesson", "intro-to-testing/cheat-sheet", "deleted")}
    tokens.append(step["next"])

    content.move(f"{BASICS}/02-first-test.md", f"{BASICS}/02-the-first-test.md")
    content.edit(f"{BASICS}/01-why-test.md", "(02-first-test.md)", "(02-the-first-test.md)")
    content.commit("rename a lesson")
    step = sync(client, tokens[-1])
    assert named(step) == {
        ("lesson", "intro-to-testing/first-test", "deleted"), ("lesson", "intro-to-testing/the-first-test", "created"),
        ("lesson", "intro-to-testing/why-test", "updated")}
    renamed = next(entry for entry in step["entries"] if entry["slug"] == "the-first-test")
    assert renamed["path"] == "/api/v1/courses/intro-to-testing/lessons/the-first-test"

    assert named(sync(client, tokens[0])) == {
        ("course", "advanced-testing", "created"), ("section", "advanced-testing/mocking", "created"),
        ("lesson", "advanced-testing/fakes", "created"), ("lesson", "intro-to-testing/check-yourself", "unpublished"),
        ("lesson", "intro-to-testing/cheat-sheet", "deleted"), ("lesson", "intro-to-testing/first-test", "deleted"),
        ("lesson", "intro-to-testing/the-first-test", "created"), ("lesson", "intro-to-testing/why-test", "updated")}
    assert sync(client, published) == {**sync(client, tokens[1]), "since": published}, "a bare commit is a token"
    assert sync(client, step["next"])["entries"] == []


def test_a_course_appears_when_its_publish_at_passes(client: TestClient[Any], content: Content) -> None:
    token = sync(client)["next"]
    moment = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    content.write("courses/soon/course.md", f"---\ntitle: Soon\nstatus: published\n"
                                            f"publish_at: {moment.strftime('%Y-%m-%dT%H:%M:%SZ')}\n---\nSoon.\n")
    content.write("courses/soon/01-start/section.md", "---\ntitle: Start\n---\n")
    content.write("courses/soon/01-start/01-hello.md", LESSON.format(title="Hello", extra=""))
    content.commit("schedule a course")
    before = sync(client, token)
    assert before["entries"] == []
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 1.1)
    after = sync(client, token)
    assert named(after) == {("course", "soon", "created"), ("section", "soon/start", "created"),
                            ("lesson", "soon/hello", "created")}
    assert after["commit"] == before["commit"] and after["next"] != before["next"]
    assert client.get("/api/v1/courses/soon").status_code == 200


def test_created_then_deleted_since_the_token_is_nothing(client: TestClient[Any], content: Content) -> None:
    token = sync(client)["next"]
    content.write(f"{BASICS}/03-brief.md", LESSON.format(title="Brief", extra=""))
    content.commit("add")
    middle = sync(client, token)
    assert named(middle) == {("lesson", "intro-to-testing/brief", "created")}
    content.remove(f"{BASICS}/03-brief.md")
    content.commit("remove")
    assert named(sync(client, middle["next"])) == {("lesson", "intro-to-testing/brief", "deleted")}
    assert sync(client, token)["entries"] == []


def test_tokens_the_log_does_not_know_are_gone(client: TestClient[Any], content: Content, tmp_path: Path) -> None:
    token = sync(client)["next"]
    commit, position = token.split(".")
    other = new_content(tmp_path / "other")
    other.write(f"{BASICS}/03-elsewhere.md", LESSON.format(title="Elsewhere", extra=""))
    unrelated = other.commit("another repository's history")
    for since in ("a" * 40, f"{commit}.{int(position) + 1000}", f"{'b' * 40}.{position}", unrelated,
                  f"{unrelated}.{position}", "c" * 64):
        response = client.get("/api/v1/sync", params={"since": since})
        assert response.status_code == 410, (since, response.text)
        problem = response.json()
        assert problem["type"] == "urn:coursebase:problem:sync-from-scratch" and "from scratch" in problem["detail"]
    assert client.get("/api/v1/sync", params={"since": "not-a-token"}).status_code == 400


def test_without_the_state_database_sync_is_off(content: Content) -> None:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(content.content)})
    with TestClient(started_app(settings)) as client:
        response = client.get("/api/v1/sync")
    assert response.status_code == 503 and "CMS_WEBHOOK_TARGETS" in response.json()["detail"]
    assert not (content.repo / ".cms" / "state.db").exists()


def change(key: str, kind: str, version: str | None, previous: str | None) -> EntryChange:
    return EntryChange("lesson", key, f"/api/v1/courses/{key}", kind, version, previous)  # type: ignore[arg-type]


@pytest.mark.parametrize(("log", "net"), [
    ([change("c/a", "created", "v1", None), change("c/a", "updated", "v2", "v1")], [("created", "v2", None)]),
    ([change("c/a", "created", "v1", None), change("c/a", "deleted", None, "v1")], []),
    ([change("c/a", "updated", "v2", "v1"), change("c/a", "updated", "v3", "v2")], [("updated", "v3", "v1")]),
    ([change("c/a", "unpublished", None, "v1"), change("c/a", "created", "v1", None)], []),
    ([change("c/a", "unpublished", None, "v1"), change("c/a", "created", "v2", None)], [("updated", "v2", "v1")]),
    ([change("c/a", "updated", "v2", "v1"), change("c/a", "unpublished", None, "v2")], [("unpublished", None, "v1")]),
    ([change("c/a", "deleted", None, "v1"), change("c/a", "created", "v9", None), change("c/a", "deleted", None, "v9")],
     [("deleted", None, "v1")]),
])
def test_changes_collapse_per_entry(log: list[EntryChange], net: list[tuple[str, str | None, str | None]]) -> None:
    assert [(entry.change, entry.version, entry.previous) for entry in collapse(log)] == net
