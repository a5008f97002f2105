"""`/webhooks` through the app: ADMIN only; targets added, read and deleted; targets from CMS_WEBHOOK_TARGETS listed
but not deletable; private addresses refused (422); deliveries paged with their attempts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from cms.settings import Settings
from tests.conftest import started_app
from tests.delivery.conftest import BASICS_LESSON, Content, Receiver

SECRET_KEY = "a-test-secret-key-long-enough-for-hs256-0123456789"
PASSWORD = "password-for-tests-1"
ENV_TARGET = "https://hooks.example.com/coursebase"


def app_client(content: Content, state_url: str, **env: str) -> TestClient[Any]:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(content.content), "CMS_SECRET_KEY": SECRET_KEY,
                                  "CMS_STATE_URL": state_url, "FIRST_SUPERUSER": "root",
                                  "FIRST_SUPERUSER_PASSWORD": PASSWORD, **env})
    return TestClient(started_app(settings), base_url="https://testserver.local")


def bearer(client: TestClient[Any], username: str = "root") -> dict[str, str]:
    login = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture
def client(content: Content, state_url: str) -> Iterator[TestClient[Any]]:
    with app_client(content, state_url, CMS_WEBHOOK_TARGETS=f"{ENV_TARGET}|an-env-secret-0123456789") as test_client:
        yield test_client


def test_a_target_is_added_read_and_deleted(client: TestClient[Any]) -> None:
    admin = bearer(client)
    created = client.post("/api/v1/webhooks", headers=admin, json={"url": "https://8.8.8.8/hook"})
    assert created.status_code == 201, created.text
    target = created.json()
    assert target["secret"].startswith("whsec_") and len(target["secret"]) > 40
    assert (target["source"], target["active"]) == ("api", True)
    assert created.headers["location"] == f"/api/v1/webhooks/{target['id']}"
    listing = client.get("/api/v1/webhooks", headers=admin).json()
    assert [(item["url"], item["source"]) for item in listing["items"]] == \
        [(ENV_TARGET, "env"), ("https://8.8.8.8/hook", "api")]
    assert (listing["total"], listing["page"], listing["page_size"]) == (2, 1, 20)
    assert "secret" not in str(listing) and target["secret"] not in client.get(
        f"/api/v1/webhooks/{target['id']}", headers=admin).text
    assert client.delete(f"/api/v1/webhooks/{target['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/webhooks/{target['id']}", headers=admin).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{target['id']}", headers=admin).status_code == 404


def test_a_target_from_the_settings_cannot_be_deleted(client: TestClient[Any]) -> None:
    admin = bearer(client)
    [env_target] = client.get("/api/v1/webhooks", headers=admin).json()["items"]
    refused = client.delete(f"/api/v1/webhooks/{env_target['id']}", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:coursebase:problem:target-from-settings"
    assert "CMS_WEBHOOK_TARGETS" in refused.json()["detail"]


def test_a_private_or_odd_url_is_422(client: TestClient[Any]) -> None:
    admin = bearer(client)
    for url in ("http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.0.0.1/hook", "http://[fe80::1]/hook",
                "http://169.254.169.254/", "ftp://8.8.8.8/hook"):
        refused = client.post("/api/v1/webhooks", headers=admin, json={"url": url})
        assert refused.status_code == 422, refused.text
        assert [error["key"] for error in refused.json()["errors"]] == ["url"]
    assert client.get("/api/v1/webhooks", headers=admin).json()["total"] == 1


def test_only_an_admin_may_manage_webhooks(client: TestClient[Any]) -> None:
    admin = bearer(client)
    client.post("/api/v1/users", headers=admin, json={"username": "moe", "email": "moe@example.com",
                                                      "password": PASSWORD, "role": "MODERATOR"})
    moderator = bearer(client, "moe")
    for method, path in [("GET", "/webhooks"), ("POST", "/webhooks"), ("GET", "/webhooks/1"),
                         ("DELETE", "/webhooks/1"), ("GET", "/webhooks/1/deliveries")]:
        body = {"url": "https://8.8.8.8/"} if method == "POST" else None
        assert client.request(method, f"/api/v1{path}", json=body).status_code == 401
        assert client.request(method, f"/api/v1{path}", json=body, headers=moderator).status_code == 403


def test_deliveries_are_paged_with_their_attempts(content: Content, state_url: str, receiver: Receiver) -> None:
    with app_client(content, state_url, CMS_WEBHOOK_ALLOW_PRIVATE="true") as client:
        admin = bearer(client)
        target = client.post("/api/v1/webhooks", headers=admin, json={"url": receiver.url}).json()
        receiver.secret = target["secret"]
        for text in ("A good test catches", "A fine test catches"):
            content.edit(BASICS_LESSON, "A test catches" if text.startswith("A good") else "A good test catches",
                         text)
            content.commit(text)
            receiver.wait_for(len(receiver.received) + 1)
        path = f"/api/v1/webhooks/{target['id']}/deliveries"
        page = wait_for_delivered(client, admin, path)
        first = client.get(path, headers=admin, params={"page_size": 1})
    assert all(request.verified for request in receiver.received)
    assert (page["total"], [item["status"] for item in page["items"]]) == (2, ["delivered", "delivered"])
    newest = page["items"][0]
    assert newest["id"] == receiver.received[-1].headers["x-coursebase-delivery"]
    assert [(attempt["outcome"], attempt["status"]) for attempt in newest["attempt_log"]] == [("delivered", 200)]
    assert newest["attempts"] == 1 and newest["next_attempt_at"] is None and newest["finished_at"]
    assert first.json()["total"] == 2 and len(first.json()["items"]) == 1 and 'rel="next"' in first.headers["link"]


def wait_for_delivered(client: TestClient[Any], headers: dict[str, str], path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page = client.get(path, headers=headers).json()
        if page["total"] == 2 and all(item["status"] == "delivered" for item in page["items"]):
            return page
        time.sleep(0.05)
    pytest.fail(f"not delivered: {page}")


def test_without_the_admin_api_webhooks_answer_503(content: Content) -> None:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(content.content)})
    with TestClient(started_app(settings)) as client:
        assert client.get("/api/v1/webhooks").status_code == 503
