"""Behind a load balancer: the client a login limit counts is the one X-Forwarded-For names, only from trusted proxies.

A real `cms serve` with the admin API; the test client connects from 127.0.0.1, as a load balancer
on the same host would. Ten failed logins from one address within five minutes get 429.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.admin_api import PASSWORD, SECRET
from tests.api_server import BASE
from tests.conftest import SITE, make_repo
from tests.servers.cluster import ADMIN, Server

LIMIT = 10


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    make_repo(tmp_path / "site", SITE)
    env = {"CMS_SECRET_KEY": SECRET, "FIRST_SUPERUSER": ADMIN, "FIRST_SUPERUSER_PASSWORD": PASSWORD,
           "CMS_STATE_URL": f"sqlite:///{tmp_path}/state.db", **request.param}
    server = Server("site", tmp_path / "site", env)
    server.launch()
    try:
        server.wait_healthy()
        with httpx.Client(base_url=f"{server.base_url}{BASE}", timeout=60) as client:
            yield client
    finally:
        server.kill()


def fail_login(client: httpx.Client, forwarded_for: str) -> int:
    response = client.post("/auth/login", json={"username": ADMIN, "password": "wrong password"},
                           headers={"X-Forwarded-For": forwarded_for})
    return response.status_code


@pytest.mark.parametrize("served", [{"CMS_TRUSTED_PROXIES": "127.0.0.1"}], indirect=True)
def test_behind_a_trusted_proxy_each_client_has_its_own_login_limit(served: httpx.Client) -> None:
    statuses = [fail_login(served, "203.0.113.5") for _ in range(LIMIT)]
    assert statuses == [401] * LIMIT
    assert fail_login(served, "203.0.113.5") == 429
    assert fail_login(served, "198.51.100.7, 203.0.113.9") == 401  # the nearest untrusted address counts
    assert fail_login(served, "203.0.113.6") == 401


@pytest.mark.parametrize("served", [{}], indirect=True)
def test_without_trusted_proxies_x_forwarded_for_is_ignored(served: httpx.Client) -> None:
    statuses = [fail_login(served, f"203.0.113.{n}") for n in range(LIMIT)]
    assert statuses == [401] * LIMIT
    assert fail_login(served, "198.51.100.1") == 429  # the connection's own address: a client cannot pick its own


@pytest.mark.parametrize("value", ["nginx", "10.0.0.0/33", "10.0.0.1,,fe80::/300"])
def test_a_trusted_proxy_that_is_not_an_address_stops_start_up(tmp_path: Path, value: str) -> None:
    make_repo(tmp_path / "site", SITE)
    server = Server("site", tmp_path / "site", {"CMS_TRUSTED_PROXIES": value})
    server.launch()
    assert server.process is not None
    assert server.process.wait(timeout=60) != 0
    assert "CMS_TRUSTED_PROXIES" in server.output() and "is not an IP address or network" in server.output()
