"""How `cms serve` reads a Postgres index: one statement per stored lesson, sessions that outlive a lost connection.

A worker's event loop keeps one read-only session; an anonymous lesson read is the stored document by key,
one prepared statement (`cms.read.postgres.PostgresReader.document`). The server's own statement log
(`log_statement = 'all'` for the test database) is what counts the statements.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg

from cms.database import PostgresUrl
from cms.read import documents
from cms.read.postgres import PostgresReader
from tests.api_server import BASE, build_site, cms_index, running_server
from tests.postgres_server import PostgresServer

LESSON = "/courses/intro-to-testing/lessons/why-test"
COURSE = "course/intro-to-testing/detail"
"""The key of a stored document of the test site."""
READS = 12
_LOGGED = re.compile(r"\[(\d+)\] LOG:  (?:statement|execute [^:]*): (.*)")


def _database_name(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


def _statements(server: PostgresServer, start: int) -> list[tuple[int, str]]:
    """(backend pid, statement) of every statement the server logged after byte `start` of its log."""
    with (server.root / "server.log").open("rb") as log:
        log.seek(start)
        text = log.read().decode(errors="replace")
    return [(int(pid), sql) for pid, sql in _LOGGED.findall(text)]


def _log_size(server: PostgresServer) -> int:
    return (server.root / "server.log").stat().st_size


def test_a_stored_lesson_is_one_statement_on_the_workers_session(
        tmp_path: Path, postgres_server: PostgresServer, postgres_database: str) -> None:
    site = build_site(tmp_path / "site")
    cms_index(site.content, CMS_DATABASE_URL=postgres_database)
    with postgres_server.admin() as admin:
        admin.execute(f'ALTER DATABASE "{_database_name(postgres_database)}" SET log_statement = \'all\'')
    with running_server(site, tmp_path, CMS_DATABASE_URL=postgres_database, CMS_RESPONSE_HOLD_SECONDS="0") as served, \
            httpx.Client(base_url=served.base_url + BASE, timeout=30) as client:
        first = client.get(LESSON)  # the session's first read prepares the statement
        start = _log_size(postgres_server)
        answers = [client.get(LESSON) for _ in range(READS)]
        logged = _reads_logged(postgres_server, start)
    assert first.status_code == 200 and first.json()["slug"] == "why-test"
    seen = {(answer.status_code, answer.content, answer.headers["etag"]) for answer in answers}
    assert seen == {(200, first.content, first.headers["etag"])}
    by_session = Counter(pid for pid, sql in logged if sql.startswith("SELECT body, etag FROM documents"))
    assert list(by_session.values()) == [READS], logged
    others = [sql for _, sql in logged if not sql.startswith("SELECT body, etag FROM documents")]
    assert all(sql.startswith("SELECT xmin::text AS version FROM meta") for sql in others), others


def _reads_logged(server: PostgresServer, start: int) -> list[tuple[int, str]]:
    """The statements logged after `start`, once the lesson reads are all there (the log is written as they run)."""
    deadline = time.monotonic() + 10
    while True:
        logged = _statements(server, start)
        reads = sum(sql.startswith("SELECT body, etag FROM documents") for _, sql in logged)
        if reads >= READS or time.monotonic() > deadline:
            return logged
        time.sleep(0.05)


def test_reads_go_on_after_the_index_sessions_are_cut(
        tmp_path: Path, postgres_server: PostgresServer, postgres_database: str) -> None:
    """Postgres ends the worker's session (a restart, a failover, an idle timeout): the next read opens another."""
    site = build_site(tmp_path / "site")
    cms_index(site.content, CMS_DATABASE_URL=postgres_database)
    with running_server(site, tmp_path, CMS_DATABASE_URL=postgres_database, CMS_RESPONSE_HOLD_SECONDS="0") as served, \
            httpx.Client(base_url=served.base_url + BASE, timeout=30) as client:
        before = {path: client.get(path) for path in (LESSON, "/courses/intro-to-testing/lessons")}
        for path, answer in before.items():
            assert answer.status_code == 200, answer.text
            _cut_sessions(postgres_server, postgres_database)
            again = client.get(path)
            assert (again.status_code, again.content) == (200, answer.content), again.text


def _cut_sessions(server: PostgresServer, url: str) -> None:
    with server.admin() as admin:
        cut = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
                            "AND application_name = 'coursebase'", [_database_name(url)]).fetchone()
    assert cut is not None and cut[0] >= 1


def test_an_index_server_gone_after_start_answers_503(tmp_path: Path) -> None:
    site = build_site(tmp_path / "site")
    with PostgresServer.start() as postgres:
        url = postgres.create_database("gone")
        cms_index(site.content, CMS_DATABASE_URL=url)
        with running_server(site, tmp_path, CMS_DATABASE_URL=url, CMS_RESPONSE_HOLD_SECONDS="0") as served, \
                httpx.Client(base_url=served.base_url + BASE, timeout=30) as client:
            assert client.get(LESSON).status_code == 200
            postgres.stop()
            answers = [client.get(path) for path in (LESSON, "/courses/intro-to-testing/lessons", "/courses")]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["status"] == 503 and "the index cannot be read just now" in problem["detail"], problem
        assert "Connection refused" in problem["detail"] and postgres.password not in problem["detail"], problem


def test_sessions_of_ended_threads_are_closed(postgres_server: PostgresServer, postgres_database: str,
                                              tmp_path: Path) -> None:
    """Each thread that reads keeps a session; one that has ended gives its session up when another opens one."""
    site = build_site(tmp_path / "site")
    cms_index(site.content, CMS_DATABASE_URL=postgres_database)
    reader = PostgresReader(PostgresUrl(postgres_database, "CMS_DATABASE_URL"))
    found: list[Any] = []
    try:
        for _ in range(6):
            thread = threading.Thread(target=lambda: found.append(documents.stored(reader, COURSE)))
            thread.start()
            thread.join(30)
        assert len(found) == 6 and found[0] is not None and len(set(found)) == 1
        assert _sessions(postgres_server, postgres_database, at_most=2) == 2  # this thread's, the last thread's
    finally:
        reader.close()
    assert _sessions(postgres_server, postgres_database, at_most=0) == 0


def _sessions(server: PostgresServer, url: str, at_most: int) -> int:
    """How many `coursebase` sessions the database has, waiting (10 s at most) for closed ones to end."""
    deadline = time.monotonic() + 10
    while True:
        with server.admin() as admin:
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = "
                                "'coursebase'", [_database_name(url)]).fetchone()
        assert row is not None
        if row[0] <= at_most or time.monotonic() > deadline:
            return int(row[0])
        time.sleep(0.05)


def test_a_key_with_no_document_is_none(postgres_database: str, tmp_path: Path) -> None:
    site = build_site(tmp_path / "site")
    cms_index(site.content, CMS_DATABASE_URL=postgres_database)
    reader = PostgresReader(PostgresUrl(postgres_database, "CMS_DATABASE_URL"))
    try:
        for key in ("course/intro-to-testing/lesson/nope", "", "course/'; DROP TABLE documents; --", "course/%",
                    "course/\u00e9/lesson/\U0001f600", COURSE.upper()):
            assert documents.stored(reader, key) is None, key
        assert documents.stored(reader, COURSE) is not None
    finally:
        reader.close()


NUL_PATHS = ["/courses/a%00b/lessons/x", "/courses/intro-to-testing/lessons/why-test%00", "/courses/a%00b",
             "/courses/intro-to-testing%00/lessons", "/courses?tag=testing%00", "/courses?q=test%00ing",
             "/search?q=test%00", "/redirects?from=%00"]


def test_a_nul_in_a_name_or_a_query_finds_nothing_on_either_index(
        tmp_path: Path, postgres_database: str) -> None:
    """Postgres text cannot hold a NUL: a name or a filter with one finds nothing, as on SQLite (never a 500)."""
    site = build_site(tmp_path / "site")
    cms_index(site.content, CMS_DATABASE_URL=postgres_database)
    answers: list[list[tuple[int, Any]]] = []
    for settings in ({}, {"CMS_DATABASE_URL": postgres_database}):
        with running_server(site, tmp_path, CMS_RESPONSE_HOLD_SECONDS="0", **settings) as served, \
                httpx.Client(base_url=served.base_url + BASE, timeout=30) as client:
            answers.append([_compared(path, client.get(path)) for path in NUL_PATHS])
    on_sqlite, on_postgres = answers
    assert on_postgres == on_sqlite
    assert all(status < 500 for status, _ in on_postgres), on_postgres


def _compared(path: str, answer: httpx.Response) -> tuple[int, Any]:
    """What must be the same on both indexes: the whole answer, or for search the hits (ranks and snippets are
    each engine's own)."""
    if path.startswith("/search") and answer.status_code == 200:
        return 200, (answer.json()["total"], sorted(hit["path"] for hit in answer.json()["items"]))
    return answer.status_code, answer.content
