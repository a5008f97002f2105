"""The change log on both state databases: a snapshot of the index against the last one recorded, one row per
change, one delivery per target, and a second recorder finding nothing."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from cms.database import Database
from cms.delivery import record_changes
from cms.delivery.snapshot import take
from tests.conftest import git
from tests.delivery.conftest import LESSON, Content, add_target, open_state

BASICS = "courses/intro-to-testing/01-basics"


def changes(recorded: Any) -> list[tuple[str, str, str]]:
    return [(entry.kind, entry.key, entry.change) for entry in recorded.entries]


def log(state: Database) -> list[dict[str, Any]]:
    return state.rows("SELECT id, old_commit, new_commit FROM content_changes ORDER BY id")


def test_the_first_record_is_the_baseline_and_sent_to_no_one(content: Content, index: sqlite3.Connection,
                                                               state: Database) -> None:
    add_target(state, "http://127.0.0.1:9/hook")
    first = record_changes(index, state)
    assert first is not None and first.old_commit is None and first.new_commit == content.head()
    assert {change for _, _, change in changes(first)} == {"created"}
    assert ("lesson", "intro-to-testing/why-test", "created") in changes(first)
    assert ("course", "advanced-testing", "created") not in changes(first)  # a draft
    assert ("media", "old-logo", "created") not in changes(first)  # soft-deleted
    assert first.deliveries == 0 and state.rows("SELECT COUNT(*) AS n FROM webhook_deliveries") == [{"n": 0}]
    assert record_changes(index, state) is None


def test_every_kind_of_change_is_named(content: Content, index: sqlite3.Connection, state: Database) -> None:
    record_changes(index, state)
    add_target(state, "http://127.0.0.1:9/one")
    add_target(state, "http://127.0.0.1:9/two")
    before = content.head()
    content.edit(f"{BASICS}/01-why-test.md", "A test catches", "A good test catches")
    content.edit(f"{BASICS}/01-why-test.md", "(02-first-test.md)", "(02-the-first-test.md)")
    content.edit("courses/intro-to-testing/02-practice/02-check-yourself.md", "---\n", "---\nstatus: draft\n")
    content.remove("courses/intro-to-testing/02-practice/01-cheat-sheet.md")
    content.move(f"{BASICS}/02-first-test.md", f"{BASICS}/02-the-first-test.md")
    content.write(f"{BASICS}/03-fixtures.md", LESSON.format(title="Fixtures", extra=""))
    content.edit("courses/advanced-testing/course.md", "status: draft", "status: published")
    after = content.commit("many changes")
    recorded = record_changes(index, state)
    assert recorded is not None and (recorded.old_commit, recorded.new_commit) == (before, after)
    assert changes(recorded) == [
        ("course", "advanced-testing", "created"),
        ("section", "advanced-testing/mocking", "created"),
        ("lesson", "intro-to-testing/cheat-sheet", "deleted"),
        ("lesson", "intro-to-testing/check-yourself", "unpublished"),
        ("lesson", "intro-to-testing/first-test", "deleted"),
        ("lesson", "intro-to-testing/fixtures", "created"),
        ("lesson", "intro-to-testing/the-first-test", "created"),
        ("lesson", "intro-to-testing/why-test", "updated"),
    ]
    updated = next(entry for entry in recorded.entries if entry.change == "updated")
    assert updated.previous != updated.version and updated.version == git_blob(content, f"{BASICS}/01-why-test.md")
    assert recorded.entries[0].path == "/api/v1/courses/advanced-testing"
    assert recorded.deliveries == 2
    assert record_changes(index, state) is None


def git_blob(content: Content, path: str) -> str:
    return git(content.repo, "hash-object", str(content.content / path))


def test_a_commit_that_changes_nothing_public_is_logged_without_deliveries(
        content: Content, index: sqlite3.Connection, state: Database) -> None:
    record_changes(index, state)
    add_target(state, "http://127.0.0.1:9/hook")
    content.edit("courses/advanced-testing/course.md", "Mocks, fakes", "Mocks, stubs, fakes")  # a draft course
    commit = content.commit("edit a draft")
    recorded = record_changes(index, state)
    assert recorded is not None and recorded.new_commit == commit and recorded.entries == []
    assert recorded.deliveries == 0
    assert record_changes(index, state) is None


def test_a_hundred_files_in_one_commit_are_one_change_and_one_delivery_per_target(
        content: Content, index: sqlite3.Connection, state: Database) -> None:
    record_changes(index, state)
    targets = [add_target(state, f"http://127.0.0.1:9/{n}") for n in range(2)]
    for n in range(100):
        content.write(f"courses/intro-to-testing/03-bulk/{n + 1:03d}-bulk-{n}.md",
                      LESSON.format(title=f"Bulk {n}", extra=""))
    content.write("courses/intro-to-testing/03-bulk/section.md", "---\ntitle: Bulk\n---\n")
    content.commit("a hundred lessons")
    recorded = record_changes(index, state)
    assert recorded is not None and len(recorded.entries) == 101
    rows = state.rows("SELECT target_id, change_id FROM webhook_deliveries ORDER BY target_id")
    assert rows == [{"target_id": target, "change_id": recorded.id} for target in targets]
    assert len(log(state)) == 2


def test_racing_recorders_record_each_change_once(content: Content, state_url: str) -> None:
    """Eight workers, each with its own index connection and state connection, record at once."""
    databases = [open_state(state_url) for _ in range(8)]
    connections = [content.connect() for _ in databases]
    try:
        record_changes(connections[0], databases[0])
        content.edit(f"{BASICS}/01-why-test.md", "A test catches", "A test finds")
        content.commit()
        results: list[Any] = []
        start = threading.Barrier(len(databases))

        def work(conn: sqlite3.Connection, db: Database) -> None:
            start.wait()
            results.append(record_changes(conn, db))

        threads = [threading.Thread(target=work, args=pair) for pair in zip(connections, databases, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len([result for result in results if result is not None]) == 1
        assert len(log(databases[0])) == 2
    finally:
        for conn, db in zip(connections, databases, strict=True):
            conn.close()
            db.close()


def test_the_snapshot_follows_the_read_sides_visibility(content: Content, index: sqlite3.Connection) -> None:
    snapshot = take(index)
    public = {(key.kind, key.key) for key in snapshot.public}
    assert ("course", "intro-to-testing") in public and ("course", "advanced-testing") not in public
    assert ("lesson", "advanced-testing/fakes") not in public  # its course is a draft
    assert ("category", "testing") in public and ("author", "grace-tester") in public
    assert ("media", "old-logo") not in public and ("media", "old-logo") in {(k.kind, k.key) for k in snapshot.stored}
    assert snapshot.commit == content.head() and snapshot.next_publication is None
