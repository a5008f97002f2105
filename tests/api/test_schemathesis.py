"""Schemathesis, from outside: the served OpenAPI document of a real `cms serve` is the contract, and every
answer must keep it (every default check, zero failures).

Why the command line in a subprocess rather than `schemathesis.openapi.from_url` under pytest: the run then
sees exactly what a client generator sees (the served document, over HTTP, from a separate process), it
is bounded by its own settings (`schemathesis.toml`: seed, examples per operation) rather than by
pytest's and Hypothesis' state in this process, each run is one test however many operations the
document has, and a failure prints Schemathesis' own report with a `curl` line to reproduce it.

Two runs:

- the public reads, anonymous, on the shared API site (`tests/api_server.py`);
- every admin route (users, content and media writes, the webhooks, AI drafts) and `/sync` on a server of its own
  over its own repository, with CMS_SECRET_KEY, an ADMIN who logs in through `POST /auth/login`
  (again whenever a token stops working; the run may change any user but that one), a webhook
  secret, Cloudinary played by a local fake and Gemini pointed at a closed local port, so no answer is a
  503 for want of configuration and nothing leaves the machine;
- logging in, refreshing and logging out, anonymously, on another such server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cms.accounts import users
from tests.admin_api import ADA, PASSWORD, SECRET, create_people
from tests.api.schemathesis_hooks import FUZZING_ADMIN_ID
from tests.api_server import BASE, Site, free_port, running_server
from tests.conftest import SITE, make_repo

pytest_plugins = ["tests.api_server"]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
ROOT = Path(__file__).parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
ADMIN_TAGS = "admin|auth|users|hooks|sync"
"""Tags of the operations that need the admin API (content writes are tagged `courses (admin)` and so on,
and `/webhooks` is tagged `webhooks`), and `/sync`, which answers 503 unless the change log is kept
(CMS_SECRET_KEY or CMS_WEBHOOK_TARGETS)."""
DYNAMIC_AUTH = f"""
[auth.dynamic.openapi.bearer]
path = "{BASE}/auth/login"
payload = {{ username = "{ADA.username}", password = "{PASSWORD}" }}
extract_selector = "/access_token"
"""
SESSION_ROUTES = "/auth/(login|logout|refresh)$"
CLOUD = "fuzzcloud"
RUN_SECONDS = 300
"""A hard stop for one run (the admin run takes about a minute and a half on a quiet 2-core machine)."""


def schemathesis(base_url: str, config: Path, workdir: Path, *selection: str,
                 env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run Schemathesis on the served document; fail with its report unless it found nothing."""
    report = workdir / "schemathesis.json"
    command = [str(SCHEMATHESIS), "--no-color", "--config-file", str(config), "run",
               f"{base_url}{BASE}/docs/openapi.json", *selection, "--report", "json",
               "--report-json-path", str(report)]
    started = time.monotonic()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=RUN_SECONDS,
                          env={**os.environ, **(env or {})})
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"schemathesis found failures:\n{output[-12000:]}"
    summary = json.loads(report.read_text()) if report.is_file() else {}
    print(f"schemathesis: {time.monotonic() - started:.1f}s\n{output[output.find('SUMMARY'):]}")
    return summary


def test_public_reads_keep_the_contract(api_site: Site, tmp_path: Path) -> None:
    schemathesis(api_site.base_url, CONFIG, tmp_path, "--exclude-tag-regex", ADMIN_TAGS)


def cloudinary_answer(request: Request) -> Response:
    """What Cloudinary answers an upload or a destroy (enough for the media routes to commit a record)."""
    kind, action = request.path.split("/")[3:5]
    if action == "destroy":
        return Response(json.dumps({"result": "ok"}), content_type="application/json")
    public_id = request.form.get("public_id", "fuzzed")
    return Response(json.dumps({
        "public_id": public_id, "resource_type": kind, "format": "png", "bytes": 1, "width": 1, "height": 1,
        "duration": 1.0, "secure_url": f"https://res.cloudinary.com/{CLOUD}/{kind}/upload/v1/{public_id}.png"}),
        content_type="application/json")


@pytest.fixture(scope="module")
def fake_cloudinary() -> Iterator[HTTPServer]:
    """A local stand-in for Cloudinary: a generated upload can be a real image, and must not reach the internet."""
    server = HTTPServer(host="127.0.0.1")
    server.expect_request(re.compile(rf"^/v1_1/{CLOUD}/\w+/(upload|destroy)$"), method="POST") \
        .respond_with_handler(cloudinary_answer)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def admin_server(tmp_path_factory: pytest.TempPathFactory, fake_cloudinary: HTTPServer) -> Iterator[Site]:
    """`cms serve` with the admin API on, over a repository of its own that the run may change at will (and
    a state database of its own: failed logins of one run never lock another out)."""
    root = tmp_path_factory.mktemp("fuzzed")
    repo = make_repo(root / "site", SITE)
    state = root / "state.db"
    with pytest.MonkeyPatch.context() as patch:  # hashed at the lowest cost, so each login is quick
        patch.setattr(users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        create_people(state)
    closed = f"http://127.0.0.1:{free_port()}"
    cloud = fake_cloudinary.url_for("/").rstrip("/")
    site = Site(repo=repo, content=repo / "content", db_path=repo / ".cms" / "index.db")
    env = {"CMS_SECRET_KEY": SECRET, "CMS_STATE_URL": f"sqlite:///{state}", "CMS_WEBHOOK_SECRET": "fuzz-webhook",
           "CLOUDINARY_URL": f"cloudinary://key:secret@{CLOUD}?upload_prefix={cloud}&timeout=5",
           "GEMINI_API_KEY": "fuzz-key", "GOOGLE_GEMINI_BASE_URL": closed}
    with running_server(site, root, **env) as served:
        yield served


def test_admin_routes_keep_the_contract(admin_server: Site, tmp_path: Path) -> None:
    """Every admin route with an ADMIN's token, but logging in and out (`test_logging_in_keeps_the_contract`):
    a logout revokes the token sent along, and failed logins lock the address out for a while."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.read_text() + DYNAMIC_AUTH)
    hooks = {"SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks", "PYTHONPATH": str(ROOT),
             FUZZING_ADMIN_ID: str(user_id(admin_server, ADA.username))}
    schemathesis(admin_server.base_url, config, tmp_path, "--include-tag-regex", ADMIN_TAGS,
                 "--exclude-path-regex", SESSION_ROUTES, env=hooks)


def test_logging_in_keeps_the_contract(admin_server: Site, tmp_path: Path) -> None:
    """Logging in, refreshing and logging out, as anyone may: with bad credentials, no cookie, too often."""
    schemathesis(admin_server.base_url, CONFIG, tmp_path, "--include-path-regex", SESSION_ROUTES)


def user_id(site: Site, username: str) -> int:
    """A user's id, as the users API shows it."""
    login = httpx.post(f"{site.base_url}{BASE}/auth/login", json={"username": username, "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    return int(httpx.get(f"{site.base_url}{BASE}/auth/me", headers=bearer).json()["id"])
