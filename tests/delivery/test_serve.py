"""Delivery by the real `cms serve` with two workers (two delivery loops): changes made while a receiver is down
survive a server restart and arrive once each; a commit of a hundred files is one POST per target; how soon a
delivery follows an index update.

The figures are printed (run with `-s` to see them): deliveries lost and repeated across a restart, POSTs per
target for a hundred-file commit, and the time from an index update to the delivery.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_server import BASE, CMS, Site, free_port, server_env
from tests.conftest import stop
from tests.delivery.conftest import BASICS_LESSON, LESSON, SECRET, Content, Receiver, new_content

SECRET_KEY = "a-test-secret-key-long-enough-for-hs256-0123456789"
PASSWORD = "password-for-tests-1"
UPDATES = 10


def settings(state: Path, *receivers: Receiver) -> dict[str, str]:
    return {"CMS_STATE_URL": f"sqlite:///{state}", "CMS_SECRET_KEY": SECRET_KEY, "FIRST_SUPERUSER": "root",
            "FIRST_SUPERUSER_PASSWORD": PASSWORD, "CMS_WEBHOOK_ALLOW_PRIVATE": "true",
            "CMS_WEBHOOK_RETRY_SECONDS": "0.5",
            "CMS_WEBHOOK_TARGETS": ",".join(f"{receiver.url}|{SECRET}" for receiver in receivers)}


@contextmanager
def serving(content: Content, workdir: Path, env: dict[str, str], workers: int = 2) -> Iterator[Site]:
    """`cms serve --workers N` over `content` (each worker runs its own delivery loop), until the block ends."""
    site = Site(repo=content.repo, content=content.content, db_path=content.db_path)
    port = free_port()
    log = workdir / f"server-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen([str(CMS), "serve", str(content.content), "--port", str(port), "--workers",
                                    str(workers)], cwd=workdir, env=server_env(**env), stdout=output,
                                   stderr=subprocess.STDOUT)
        site.process, site.base_url = process, f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _healthy(site), f"cms serve on port {port} ({log.read_text(errors='replace')})")
            yield site
        finally:
            stop(process)


def _healthy(site: Site) -> bool:
    assert site.process is not None and site.process.poll() is None, "cms serve exited"
    try:
        return httpx.get(f"{site.base_url}{BASE}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def rows(state: Path, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql)]


def wait_until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)
    pytest.fail(f"no {what} within {timeout}s")


def edit(content: Content, n: int) -> str:
    """Commit a new version of one public lesson, and index it as `cms index` would; the commit."""
    content.edit(BASICS_LESSON, "regression before" if n == 0 else f"regression ({n - 1}) before",
                 f"regression ({n}) before")
    return content.commit(f"edit {n}")


def recorded(state: Path, commit: str) -> str:
    """`commit`, once the server has logged it (commits made within one round of the loop are one change)."""
    wait_until(lambda: rows(state, f"SELECT id FROM content_changes WHERE new_commit = '{commit}'"), "the change")
    return commit


def test_deliveries_wait_across_a_restart_and_arrive_once(tmp_path: Path) -> None:
    content = new_content(tmp_path / "site")
    state = tmp_path / "state.db"
    receiver = Receiver().reserve()
    env = settings(state, receiver)
    try:
        with serving(content, tmp_path, env):
            wait_until(lambda: rows(state, "SELECT id FROM content_changes"), "baseline")
            commits = [recorded(state, edit(content, n)) for n in range(3)]
            wait_until(lambda: rows(state, "SELECT id FROM webhook_attempts WHERE error LIKE 'cannot connect%'"),
                       "a refused attempt")
        waiting = rows(state, "SELECT uuid, status, attempts FROM webhook_deliveries ORDER BY id")
        receiver.start()
        with serving(content, tmp_path, env) as site:
            received = receiver.wait_for(len(commits))
            time.sleep(2.0)
            answer = deliveries_page(site)
    finally:
        receiver.stop()
    assert [row["status"] for row in waiting] == ["pending"] * 3 and waiting[0]["attempts"] >= 1
    new_commits = [request.json()["new_commit"] for request in receiver.received]
    delivered_ids = [request.headers["x-coursebase-delivery"] for request in received]
    lost = len(set(commits) - set(new_commits))
    repeated = len(delivered_ids) - len(set(delivered_ids))
    print(f"\nrestart: {len(commits)} changes while the receiver was down, {len(received)} POSTs after the restart, "
          f"{lost} lost, {repeated} repeated")
    assert (lost, repeated, len(receiver.received)) == (0, 0, 3)
    assert new_commits == commits, "in order"
    assert all(request.verified for request in received)
    assert delivered_ids == [row["uuid"] for row in waiting]
    assert [item["status"] for item in answer["items"]] == ["delivered"] * 3
    oldest = answer["items"][-1]
    assert oldest["attempt_log"][0]["outcome"] == "retry" and oldest["attempt_log"][-1]["status"] == 200


def deliveries_page(site: Site) -> dict[str, Any]:
    with httpx.Client(base_url=f"{site.base_url}{BASE}", timeout=10) as client:
        token = client.post("/auth/login", json={"username": "root", "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        [target] = client.get("/webhooks", headers=headers).json()["items"]
        return client.get(f"/webhooks/{target['id']}/deliveries", headers=headers).json()


def test_a_hundred_files_are_one_post_per_target_soon_after_the_index_update(tmp_path: Path) -> None:
    content = new_content(tmp_path / "site")
    state = tmp_path / "state.db"
    receivers = [Receiver().start(), Receiver().start()]
    latencies = []
    try:
        with serving(content, tmp_path, settings(state, *receivers)):
            wait_until(lambda: rows(state, "SELECT id FROM content_changes"), "baseline")
            for n in range(UPDATES):
                time.sleep(random.uniform(0, 0.6))  # at any point of the loop's half-second round
                edit(content, n)
                indexed = time.time()
                first = receivers[0].wait_for(n + 1)[n]
                latencies.append(first.at - indexed)
            for n in range(100):
                content.write(f"courses/intro-to-testing/01-basics/{n + 3:03d}-bulk-{n}.md",
                              LESSON.format(title=f"Bulk {n}", extra=""))
            content.commit("a hundred lessons")
            for receiver in receivers:
                receiver.wait_for(UPDATES + 1)
            time.sleep(2.0)
    finally:
        for receiver in receivers:
            receiver.stop()
    bulk = [[request for request in receiver.received if len(request.json()["entries"]) > 1]
            for receiver in receivers]
    print(f"\n100-file commit: {[len(posts) for posts in bulk]} POSTs per target, "
          f"{[len(posts[0].json()['entries']) for posts in bulk]} entries each; index update to delivery: "
          f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
          f"over {len(latencies)} updates")
    assert [len(receiver.received) for receiver in receivers] == [UPDATES + 1] * 2
    assert [len(posts) for posts in bulk] == [1, 1]
    assert all(len(posts[0].json()["entries"]) == 100 and posts[0].verified for posts in bulk)
    assert max(latencies) < 3.0
