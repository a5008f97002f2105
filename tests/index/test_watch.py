"""`cms watch` on a real repository: saves show up in the index, editor debris does not cost a run.

`watch()` runs in a thread against a temporary repository; the tests look
at the index the way the API does, through a read-only SQLite connection.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import watchfiles
import watchfiles.main

from cms.content.corpus import ContentTree
from cms.index.build import IndexReport
from cms.index.watch import DEBOUNCE_MS, relevant, watch
from tests.conftest import GIT_ENV

BASICS = "content/courses/intro-to-testing/01-basics"
WHY_TEST = f"{BASICS}/01-why-test.md"
QUIET_PERIOD = DEBOUNCE_MS / 1000 + 0.8
"""Long enough for a batch of events to have been delivered, were it going to be."""


class Watcher:
    """`watch()` in a thread, with every report and error it hands back."""

    def __init__(self, repo: Path, db: Path) -> None:
        self.repo, self.db = repo, db
        self.reports: list[IndexReport] = []
        self.errors: list[Exception] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=watch, daemon=True, args=(
            ContentTree.locate(repo / "content"), db, self.reports.append, self.stop, self.errors.append))

    @property
    def updates(self) -> int:
        return len(self.reports)

    def scalar(self, sql: str, *args: Any) -> Any:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            row = conn.execute(sql, args).fetchone()
            return None if row is None else row[0]
        finally:
            conn.close()

    def write(self, path: str, text: str) -> None:
        target = self.repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def replace(self, path: str, old: str, new: str) -> None:
        text = (self.repo / path).read_text(encoding="utf-8")
        assert old in text
        self.write(path, text.replace(old, new))


def eventually(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll `check` until it answers truthily; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not seen within {timeout} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def watcher(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Watcher]:
    """A running watcher whose first (full) update is done and whose file watch is in place."""
    watching = threading.Event()
    rust_notify = watchfiles.main.RustNotify

    def notify(*args: Any, **kwargs: Any) -> Any:  # the OS watch is set up when this object is made
        made = rust_notify(*args, **kwargs)
        watching.set()
        return made

    monkeypatch.setattr(watchfiles.main, "RustNotify", notify)
    running = Watcher(site, tmp_path / "index.db")
    running.thread.start()
    assert watching.wait(10), "watch() never started watching"
    assert running.updates == 1 and running.reports[0].full
    yield running
    running.stop.set()
    running.thread.join(10)
    assert not running.thread.is_alive(), "watch() did not stop when asked"
    assert running.errors == []


def lesson_title(watcher: Watcher, slug: str) -> str | None:
    return watcher.scalar("SELECT title FROM lessons WHERE slug = ?", slug)


def test_an_edit_becomes_visible(watcher: Watcher) -> None:
    watcher.replace(WHY_TEST, "title: Why test", "title: Why we test")
    eventually(lambda: lesson_title(watcher, "why-test") == "Why we test", "the new title")
    eventually(lambda: any(r.read == 1 for r in watcher.reports[1:]), "the run's report")  # made after its commit
    runs = watcher.reports[1:]
    assert any(r.read == 1 for r in runs) and all(r.read <= 1 for r in runs), "only the saved file is re-read"
    assert watcher.scalar("SELECT prev_title FROM lessons WHERE slug = 'first-test'") == "Why we test"


def test_an_added_lesson_becomes_visible(watcher: Watcher) -> None:
    watcher.write(f"{BASICS}/03-recap.md", "---\ntitle: Recap\n---\nAll of it again.\n")
    eventually(lambda: lesson_title(watcher, "recap") == "Recap", "the new lesson")
    assert watcher.scalar("SELECT lesson_count FROM sections WHERE slug = 'basics'") == 3


def test_a_deleted_lesson_disappears(watcher: Watcher) -> None:
    (watcher.repo / "content/courses/intro-to-testing/02-practice/02-check-yourself.md").unlink()
    gone = "SELECT COUNT(*) FROM lessons WHERE slug = 'check-yourself'"
    eventually(lambda: watcher.scalar(gone) == 0, "the deletion")
    assert watcher.scalar("SELECT COUNT(*) FROM lessons") == 4
    assert watcher.scalar("SELECT next_slug FROM lessons WHERE slug = 'cheat-sheet'") is None
    assert [r.deleted for r in watcher.reports[1:] if r.deleted] == [1]
    assert watcher.reports[-1].problems == []


def test_editor_debris_triggers_no_update(watcher: Watcher) -> None:
    debris = [f"{BASICS}/.01-why-test.md.swp", f"{BASICS}/01-why-test.md~", f"{BASICS}/.#01-why-test.md",
              "content/.scratch.md.swp", f"{BASICS}/notes.tmp"]
    for path in debris:
        watcher.write(path, "half-saved")
    watcher.write(debris[0], "half-saved, again")
    (watcher.repo / debris[1]).unlink()
    time.sleep(QUIET_PERIOD)  # a negative: nothing to wait for but time
    assert watcher.updates == 1, [report.read for report in watcher.reports]
    watcher.replace(WHY_TEST, "title: Why test", "title: Why we test")  # the watcher is still listening
    eventually(lambda: lesson_title(watcher, "why-test") == "Why we test", "an edit after the debris")


def test_a_broken_save_is_reported_and_everything_else_stays_served(watcher: Watcher) -> None:
    watcher.replace(WHY_TEST, "title: Why test", "title: [Why test")
    report = eventually(lambda: next((r for r in watcher.reports[1:] if r.problems), None), "a report of the problem")
    assert {p.file for p in report.problems if p.is_error} == {WHY_TEST}
    assert watcher.scalar("SELECT COUNT(*) FROM lessons WHERE slug = 'why-test'") == 0
    assert watcher.scalar("SELECT COUNT(*) FROM lessons") == 4
    assert watcher.scalar("SELECT COUNT(*) FROM courses") == 2
    assert watcher.scalar("SELECT COUNT(*) FROM problems WHERE file = ?", WHY_TEST) >= 1
    watcher.replace(WHY_TEST, "title: [Why test", "title: Why test")
    eventually(lambda: lesson_title(watcher, "why-test") == "Why test", "the fixed lesson")
    assert watcher.reports[-1].problems == []


def test_a_checkout_sized_burst_costs_one_or_two_updates(watcher: Watcher) -> None:
    folder = "content/courses/intro-to-testing/03-bulk"
    watcher.write(f"{folder}/section.md", "---\ntitle: Bulk\n---\n")
    for number in range(1, 300):
        watcher.write(f"{folder}/{number:03d}-bulk-{number}.md", f"---\ntitle: Bulk {number}\n---\nLesson {number}.\n")
    eventually(lambda: watcher.scalar("SELECT COUNT(*) FROM lessons") == 5 + 299, "all 299 lessons", timeout=20)
    time.sleep(QUIET_PERIOD)  # any batch still to come has arrived by now
    assert 1 <= watcher.updates - 1 <= 2, [report.read for report in watcher.reports]


def test_a_commit_is_noticed(watcher: Watcher) -> None:
    watcher.write(f"{BASICS}/03-recap.md", "---\ntitle: Recap\n---\nAll of it again.\n")
    eventually(lambda: lesson_title(watcher, "recap") == "Recap", "the new lesson")
    date = "2020-02-02T10:00:00+00:00"
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(watcher.repo), "add", "--all"], check=True, env=env)
    subprocess.run(["git", "-C", str(watcher.repo), "commit", "--quiet", "-m", "Recap"], check=True, env=env)
    created = "SELECT created_at FROM lessons WHERE slug = 'recap'"
    eventually(lambda: watcher.scalar(created) == "2020-02-02T10:00:00Z", "the commit date")


def test_which_events_are_relevant(site: Path) -> None:
    tree = ContentTree.locate(site / "content")
    content, basics = tree.content_dir, tree.content_dir / "courses/intro-to-testing/01-basics"

    def event(path: Path) -> list[tuple[watchfiles.Change, str]]:
        return [(watchfiles.Change.modified, str(path))]

    assert relevant(event(basics / "01-why-test.md"), tree)
    assert relevant(event(basics), tree)  # a folder removed or renamed
    assert relevant(event(content / "media/x.yml"), tree)
    assert relevant(event(tree.repo_root / ".git/logs/HEAD"), tree)
    for name in (".01-why-test.md.swp", "01-why-test.md~", ".#01-why-test.md", "x.tmp", "_draft.md", "cover.png"):
        assert not relevant(event(basics / name), tree), name
    assert not relevant(event(content / ".hidden/01-x.md"), tree)
    assert not relevant(event(tree.repo_root / ".git/logs/refs/heads/main"), tree)
