"""The admin API answers the same on either state database: one login's life, FIRST_SUPERUSER, and the user list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from cms.settings import Settings
from tests.conftest import started_app

SECRET = "a-test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"


def test_a_login_lives_and_ends_the_same_on_both_databases(site: Path, state_url: str) -> None:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(site / "content"), "CMS_SECRET_KEY": SECRET,
                                  "CMS_STATE_URL": state_url, "FIRST_SUPERUSER": "root",
                                  "FIRST_SUPERUSER_PASSWORD": PASSWORD})
    with TestClient(started_app(settings), base_url="https://testserver.local") as client:
        answers: list[Any] = []
        login = client.post("/api/v1/auth/login", json={"username": "ROOT", "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        answers.append((login.status_code, client.get("/api/v1/auth/me", headers=bearer).json()["username"]))
        created = client.post("/api/v1/users", headers=bearer, json={
            "username": "ada", "email": "Ada@Example.com", "password": PASSWORD, "role": "MODERATOR"})
        again = client.post("/api/v1/users", headers=bearer, json={
            "username": "ada2", "email": "ada@example.COM", "password": PASSWORD})
        answers.append((created.status_code, created.json()["id"], again.status_code))
        refreshed = client.post("/api/v1/auth/refresh")
        replayed = client.post("/api/v1/auth/refresh", cookies={"cms_refresh": login.cookies["cms_refresh"]})
        answers.append((refreshed.status_code, replayed.status_code,
                         client.get("/api/v1/auth/me", headers=bearer).status_code))
    assert answers == [(200, "root"), (201, 2, 409), (200, 401, 401)]
