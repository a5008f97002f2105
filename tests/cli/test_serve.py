"""`cms serve` as people run it: the real process, started, edited under and stopped, many times.

Each start is a fresh repository and a fresh `cms serve --watch` process.
A start must answer `/health` within 10 s, show a saved edit within 1 s and
stop, with every process it started, within 3 s of SIGTERM (or Ctrl-C).
The figures of each loop are printed (`pytest -s`) and kept in the test's
report.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.api_server import CMS, free_port, server_env
from tests.conftest import EXAMPLE_CONTENT, SITE, make_repo

pytestmark = pytest.mark.xdist_group("processes")
"""Tests that start whole servers share one xdist worker (`make test` runs with --dist loadgroup): two of them
side by side would measure each other's load rather than the product."""

STARTS = 20
START_SECONDS = 10.0
VISIBLE_SECONDS = 1.0
STOP_SECONDS = 3.0
LESSON = "courses/intro-to-testing/01-basics/01-why-test.md"
ROOT = Path(__file__).parents[2]


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    seconds: float

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def launch(command: list[str], workdir: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    """Start `command` in a session of its own (so Ctrl-C can be sent to its whole group), output to a log."""
    with (workdir / f"serve-{port}.log").open("wb") as log:
        return subprocess.Popen(command, cwd=workdir, env=server_env(**env), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path, limit: float) -> float:
    """Seconds until `/health` answers 200; fails the test past `limit` or if the process ends."""
    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=1) as client:
        while time.monotonic() - started < limit:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if client.get("/api/v1/health").status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    pytest.fail(f"no answer from /health within {limit}s:\n{log.read_text(errors='replace')}")


@contextmanager
def serving(content: Path, workdir: Path, *options: str) -> Iterator[Started]:
    port = free_port()
    began = time.monotonic()
    process = launch([str(CMS), "serve", str(content), "--port", str(port), *options], workdir, port)
    log = workdir / f"serve-{port}.log"
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}", log, START_SECONDS)
        yield Started(process, f"http://127.0.0.1:{port}", log, time.monotonic() - began)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def family(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The process and everything it started (the indexer, the granian workers)."""
    root = psutil.Process(process.pid)
    return [root, *root.children(recursive=True)]


def still_running(members: list[psutil.Process], limit: float) -> list[psutil.Process]:
    """Those of `members` still running after up to `limit` seconds (a zombie, ended but not yet reaped, is not)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and any(_running(process) for process in members):
        time.sleep(0.01)
    return [process for process in members if _running(process)]


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_within(started: Started, how: signal.Signals, limit: float, group: bool = False) -> float:
    """Send `how` (to the whole process group with `group`, as a terminal's Ctrl-C does); seconds until all ended."""
    members = family(started.process)
    began = time.monotonic()
    if group:
        os.killpg(started.process.pid, how)
    else:
        started.process.send_signal(how)
    alive = still_running(members, limit)
    seconds = time.monotonic() - began
    assert not alive, f"still running {limit}s after {how.name}: {alive}\n{started.output()}"
    return seconds


def seconds_until_visible(base_url: str, lesson: Path, title: str) -> float:
    """Save a new title into the lesson file and wait for the API to serve it."""
    text = lesson.read_text()
    lesson.write_text(text.replace("title: Why test\n", f"title: {title}\n", 1))
    began = time.monotonic()
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=1) as client:
        while time.monotonic() - began < VISIBLE_SECONDS * 3:
            if client.get("/courses/intro-to-testing/lessons/why-test").json().get("title") == title:
                return time.monotonic() - began
            time.sleep(0.01)
    pytest.fail(f"the edit did not show within {VISIBLE_SECONDS * 3}s")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_watch_starts_shows_edits_and_stops_every_time(tmp_path: Path, workers: str,
                                                             record_property: pytest.RecordProperty) -> None:
    starts, visible, stops = [], [], []
    for attempt in range(STARTS):
        repo = make_repo(tmp_path / f"site-{attempt}", SITE)
        assert (repo / "content" / LESSON).read_text().count("title: Why test\n") == 1
        with serving(repo / "content", tmp_path, "--watch", "--workers", workers) as started:
            starts.append(started.seconds)
            visible.append(seconds_until_visible(started.base_url, repo / "content" / LESSON, f"Edited {attempt}"))
            stops.append(stop_within(started, signal.SIGTERM, STOP_SECONDS))
            assert started.process.wait(timeout=1) == 0, started.output()
    figures = (f"{STARTS}/{STARTS} starts answered (workers={workers}); start median {statistics.median(starts):.2f}s"
               f" max {max(starts):.2f}s; save-to-visible median {statistics.median(visible):.2f}s max "
               f"{max(visible):.2f}s; stop median {statistics.median(stops):.2f}s max {max(stops):.2f}s")
    print(figures)
    record_property("figures", figures)
    assert max(visible) <= VISIBLE_SECONDS, figures
    assert max(stops) <= STOP_SECONDS, figures


@pytest.mark.parametrize("options", [(), ("--workers", "2"), ("--watch",)])
def test_ctrl_c_stops_the_whole_server(tmp_path: Path, options: tuple[str, ...]) -> None:
    repo = make_repo(tmp_path / "site", SITE)
    with serving(repo / "content", tmp_path, *options) as started:
        stop_within(started, signal.SIGINT, STOP_SECONDS, group=True)


def test_the_indexer_ends_when_the_server_is_killed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "site", SITE)
    with serving(repo / "content", tmp_path, "--watch") as started:
        members = family(started.process)
        started.process.kill()
        alive = still_running(members, STOP_SECONDS)
        assert not alive, f"left running after the server was killed: {alive}"


def test_serve_starts_when_some_files_have_problems_and_names_them(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "site", SITE)
    broken = repo / "content" / LESSON
    broken.write_text(broken.read_text().replace("title: Why test\n", "title: [unclosed\n", 1))
    with serving(repo / "content", tmp_path, "--watch") as started:
        with httpx.Client(base_url=f"{started.base_url}/api/v1", timeout=5) as client:
            assert client.get("/courses/intro-to-testing").status_code == 200
            assert client.get("/courses/intro-to-testing/lessons/why-test").status_code == 404
        assert "01-why-test.md" in started.output()
        stop_within(started, signal.SIGTERM, STOP_SECONDS)


def test_serve_outside_a_repository_fails_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    result = subprocess.run([str(CMS), "serve", str(tmp_path / "content"), "--port", str(free_port())],
                            cwd=tmp_path, env=server_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "not inside a git repository" in result.stderr


def test_a_replaced_index_file_is_followed_by_the_workers(tmp_path: Path) -> None:
    """The index deleted and rebuilt under a running server: the workers read the new file."""
    repo = make_repo(tmp_path / "site", SITE)
    with serving(repo / "content", tmp_path, "--workers", "2") as started:
        lesson = repo / "content" / LESSON
        lesson.write_text(lesson.read_text().replace("title: Why test\n", "title: Rebuilt\n", 1))
        index = repo / ".cms" / "index.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{index}{suffix}").unlink(missing_ok=True)
        subprocess.run([str(CMS), "index", "--quiet", str(repo / "content")], env=server_env(), check=True)
        with httpx.Client(base_url=f"{started.base_url}/api/v1", timeout=5) as client:
            deadline = time.monotonic() + 5
            titles: set[str] = set()
            while time.monotonic() < deadline and titles != {"Rebuilt"}:
                titles = {client.get("/courses/intro-to-testing/lessons/why-test").json()["title"] for _ in range(8)}
                time.sleep(0.05)
        assert titles == {"Rebuilt"}


def test_make_run_serves_the_example_content_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """The README's own command, in a copy of the project (its content, Makefile and virtual environment)."""
    shutil.copytree(EXAMPLE_CONTENT, tmp_path / "example" / "content")
    project = make_repo(tmp_path / "project", tmp_path / "example")
    for name in ("Makefile", "pyproject.toml"):
        (project / name).write_bytes((ROOT / name).read_bytes())
        os.utime(project / name, (0, 0))  # older than the installed environment: `make` installs nothing
    port = free_port()
    process = launch(["make", "run", f"PORT={port}", f"VENV={ROOT / '.venv'}"], project, port)
    log = project / f"serve-{port}.log"
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}", log, 30)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=5) as client:
            assert client.get("/courses/git-fundamentals/lessons/branches").status_code == 200
        stop_within(Started(process, "", log, 0), signal.SIGINT, STOP_SECONDS, group=True)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
