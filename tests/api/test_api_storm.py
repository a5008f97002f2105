"""A request storm against `cms serve` while the index is rebuilt again and again: no request fails.

Readers must never see a half-built index (SPEC §3): every answer during
ten rebuilds (content edits committed with git, alternating incremental
and full runs) is a 2xx, or the 404 a request for hidden content asks for;
and the last rebuild is served within FRESH_SECONDS of its end.

The storm is a module fixture, so each test has it whichever xdist worker
runs it: a module fixture is made once per worker, not once per run, and a
check that leant on the other test's storm met a fresh server of its own.
The group is to keep both tests on one worker, so the storm runs once (with
pytest 9.2 and pytest-xdist 3.8 groups are not applied: it may run twice).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

import httpx
import pytest

pytest.register_assert_rewrite("tests.api_server")

from cms.content.corpus import ContentTree  # noqa: E402
from cms.index.build import update  # noqa: E402
from cms.index.documents import lesson_key  # noqa: E402
from tests.api_server import BASE, Collector, Site, build_site, checked_client, running_server  # noqa: E402
from tests.conftest import git  # noqa: E402

pytestmark = pytest.mark.xdist_group("storm")

THREADS = 8
MIN_REQUESTS = 200
"""Each thread sends at least this many requests, and keeps going until the rebuilds are over."""
MAX_REQUESTS = 1500
REBUILDS = 10
DEADLINE_SECONDS = 45
FRESH_SECONDS = 2.0
"""How soon every server serves a new index (the bound several servers keep too)."""
EDITED = "courses/intro-to-testing/01-basics/01-why-test.md"
LESSON = ("intro-to-testing", "why-test")
COURSE = "courses/python-data/course.md"
ROUTES = [
    ("/courses", 200), ("/courses?sort=title&page_size=2&page=2", 200), ("/courses/intro-to-testing", 200),
    ("/courses/python-data", 200), ("/courses/intro-to-testing/lessons", 200),
    ("/courses/intro-to-testing/lessons/why-test", 200), ("/courses/python-data/lessons/charts", 200),
    ("/courses/python-data/lessons/clean-data", 200), ("/search?q=test", 200), ("/search?q=charts&kind=lesson", 200),
    ("/courses?q=data", 200), ("/categories", 200), ("/meta", 200),
    ("/courses/python-data/lessons/draft-notes", 404), ("/courses/legacy-flash", 404),
]


@dataclass
class Storm:
    """What the request threads saw, and what the rebuilds did."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    bad: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    log: list[tuple[int, int, bool]] = field(default_factory=list)
    """Per rebuild: requests sent before it, requests sent when it ended, whether it was a full run."""
    errors: list[BaseException] = field(default_factory=list)
    rebuilt_at: float = 0.0
    """`time.monotonic()` when the last rebuild ended."""

    def record(self, path: str, wanted: int, outcome: int | str) -> None:
        with self.lock:
            self.sent += 1
            if isinstance(outcome, int):
                self.statuses[outcome] += 1
            if outcome != wanted:
                self.bad += 1
                if len(self.failures) < 20:
                    self.failures.append(f"{path}: wanted {wanted}, got {outcome}")


@pytest.fixture(scope="module")
def storm_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server of its own: the rebuilds edit its repository."""
    root = tmp_path_factory.mktemp("storm")
    with running_server(build_site(root / "site"), root) as site:
        yield site


@pytest.fixture(scope="module")
def storm(storm_site: Site) -> Storm:
    """THREADS request threads against the server while REBUILDS rebuilds run, until all are over."""
    storm, rebuilt = Storm(), threading.Event()
    deadline = time.monotonic() + DEADLINE_SECONDS
    workers = [threading.Thread(target=hammer, args=(storm_site, storm, rebuilt, n * 2, deadline))
               for n in range(THREADS)]
    for worker in workers:
        worker.start()
    while storm.sent < THREADS * 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    rebuilder = threading.Thread(target=rebuild, args=(storm_site, storm, rebuilt))
    rebuilder.start()
    for thread in (rebuilder, *workers):
        thread.join(timeout=DEADLINE_SECONDS + 10)
        assert not thread.is_alive(), "the storm did not finish in time"
    return storm


def hammer(site: Site, storm: Storm, rebuilt: threading.Event, offset: int, deadline: float) -> None:
    routes = itertools.islice(itertools.cycle(ROUTES), offset, None)
    with checked_client(site.base_url, Collector()) as client:
        for count, (path, wanted) in enumerate(routes):
            if count >= MAX_REQUESTS or time.monotonic() > deadline or (count >= MIN_REQUESTS and rebuilt.is_set()):
                return
            try:
                response = client.get(path)
                outcome: int | str = response.status_code
                if response.status_code == 200:
                    response.json()
            except (httpx.HTTPError, ValueError, AssertionError) as error:  # AssertionError: a leak
                outcome = f"{type(error).__name__}: {error}"
            storm.record(path, wanted, outcome)


def rebuild(site: Site, storm: Storm, rebuilt: threading.Event) -> None:
    """Edit, commit and re-index REBUILDS times; note how many requests ran during each run."""
    tree = ContentTree.locate(site.content)
    try:
        for run in range(REBUILDS):
            lesson = site.file(EDITED)
            lesson.write_text(lesson.read_text() + f"\nRevision {run} of this lesson.\n")
            if run % 3 == 0:
                course = site.file(COURSE)
                course.write_text(course.read_text().replace("Tables in", f"Tables (take {run}) in", 1))
            git(site.repo, "commit", "--quiet", "--all", "--message", f"Revision {run}")
            before = storm.sent
            report = update(tree, site.db_path, full=run % 2 == 1)
            storm.rebuilt_at = time.monotonic()
            storm.log.append((before, storm.sent, report.full))
            time.sleep(0.05)
    except BaseException as error:  # reported by the test, not lost in the thread
        storm.errors.append(error)
    finally:
        rebuilt.set()


def test_request_storm_during_repeated_rebuilds_never_fails(storm: Storm) -> None:
    assert not storm.errors, storm.errors
    assert storm.bad == 0, f"{storm.bad} of {storm.sent} answers were wrong, the first ones: {storm.failures}"
    assert len(storm.log) == REBUILDS
    assert [full for _, _, full in storm.log] == [run % 2 == 1 for run in range(REBUILDS)]
    assert all(after > before for before, after, _ in storm.log), f"requests in flight per rebuild: {storm.log}"
    assert storm.sent >= THREADS * MIN_REQUESTS
    assert set(storm.statuses) == {200, 404}


def test_the_server_serves_the_last_rebuild(storm_site: Site, storm: Storm) -> None:
    """Within FRESH_SECONDS of the last rebuild's end (a read that began before it may still be finishing)."""
    assert not storm.errors and len(storm.log) == REBUILDS, storm.errors
    last = f"Revision {REBUILDS - 1} of this lesson."
    with httpx.Client(base_url=f"{storm_site.base_url}{BASE}") as client:
        deadline = storm.rebuilt_at + FRESH_SECONDS
        lesson = client.get("/courses/intro-to-testing/lessons/why-test").json()
        while last not in lesson["html"] and time.monotonic() < deadline:
            time.sleep(0.05)
            lesson = client.get("/courses/intro-to-testing/lessons/why-test").json()
        assert last in lesson["html"], (f"not served {FRESH_SECONDS} s after the last rebuild\n"
                                        + diagnosis(storm_site, storm, client))
        health = client.get("/health").json()
        assert health["commits_behind"] == 0
        assert health["index_commit"] == git(storm_site.repo, "rev-parse", "HEAD")
        assert lesson["version"] == storm_site.blob(EDITED)


def diagnosis(site: Site, storm: Storm, client: httpx.Client) -> str:
    """What the server, the index file and the content file each hold for the lesson, told apart."""
    with closing(sqlite3.connect(f"file:{site.db_path}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT version, html FROM lessons WHERE course = ? AND slug = ?", LESSON).fetchone()
        document = conn.execute("SELECT etag, body FROM documents WHERE key = ?", (lesson_key(*LESSON),)).fetchone()
    return "\n".join([
        f"worker {os.environ.get('PYTEST_XDIST_WORKER', '-')} pid {os.getpid()}: rebuilds {storm.log}, "
        f"the last ended {time.monotonic() - storm.rebuilt_at:.2f} s ago",
        f"/health: {client.get('/health').json()}",
        f"HEAD {git(site.repo, 'rev-parse', 'HEAD')}, file blob {site.blob(EDITED)}, "
        f"revisions in the file: {site.file(EDITED).read_text().count('Revision')}",
        f"lessons row: version {row and row[0]}, revisions in its html: {row and row[1].count('Revision')}",
        f"documents row: etag {document and document[0]}, "
        f"revisions in its body: {document and document[1].decode().count('Revision')}",
    ])
