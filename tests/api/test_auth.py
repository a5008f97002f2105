"""Auth and users through the real app: login, tokens, refresh rotation, roles, users CRUD, start-up.

The app is `create_app` over a real git repository (the test site, indexed
with `cms.index.update`), built once per module since the API only reads
the content; every test starts it afresh (its lifespan) on an empty state
database, creating FIRST_SUPERUSER, and talks to it with Litestar's TestClient
over https (so the `Secure` refresh cookie is sent back, to the auth routes
only). Password hashing uses argon2 with the lowest cost, swapped in by a
fixture; production code has no test switch.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from cms.accounts import users
from cms.content.corpus import ContentTree
from cms.errors import ConfigError
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.settings import Settings
from tests.conftest import SITE, git, make_repo

BASE = "/api/v1"
ORIGIN = "https://testserver.local"
SECRET = "a-test-secret-key-long-enough-even-for-hs512-0123456789abcdefghij"
ADMIN_PASSWORD = "admin-password-1"
USER_PASSWORD = "user-password-1"
ADMIN_ENV = {"CMS_SECRET_KEY": SECRET, "FIRST_SUPERUSER": "admin", "FIRST_SUPERUSER_PASSWORD": ADMIN_PASSWORD}
PROBLEM = "application/problem+json"
LIMIT = 10
"""Failed logins per address, and wrong current passwords per user, allowed in five minutes."""
RACERS = 60


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def indexed_site(path: Path) -> Path:
    repo = make_repo(path, SITE)
    tree = ContentTree.locate(repo / "content")
    update(tree, database_path(tree, None))
    return repo


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test site, indexed: shared by the module's tests, which only read it."""
    return indexed_site(tmp_path_factory.mktemp("auth") / "site")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Settings for a test's own app: the admin API on, a first admin, a state database of its own."""
    return {**ADMIN_ENV, "CMS_STATE_URL": f"sqlite:///{tmp_path / 'own-state' / 'state.db'}"}


@contextmanager
def running(site: Path, **env: str) -> Iterator[TestClient[Any]]:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(site / "content"), **env})
    with TestClient(create_app(settings), base_url=ORIGIN) as client:
        yield client


@pytest.fixture(scope="module")
def shared(indexed: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Litestar, Path]:
    """One app for the module's tests (building it is the slow part) and where its state lives."""
    state = tmp_path_factory.mktemp("state") / "state.db"
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(indexed / "content"), **ADMIN_ENV,
                                  "CMS_STATE_URL": f"sqlite:///{state}"})
    return create_app(settings), state


@pytest.fixture
def state_db(shared: tuple[Litestar, Path]) -> Path:
    """The shared app's state database, emptied: each test starts with nothing but the first admin."""
    state = shared[1]
    for path in state.parent.glob(f"{state.name}*"):
        path.unlink()
    return state


@pytest.fixture
def client(shared: tuple[Litestar, Path], state_db: Path) -> Iterator[TestClient[Any]]:
    with TestClient(shared[0], base_url=ORIGIN) as client:
        yield client


def login(client: TestClient[Any], username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    response = client.post(f"{BASE}/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_user(client: TestClient[Any], admin: str, username: str, role: str = "USER") -> dict[str, Any]:
    body = {"username": username, "email": f"{username}@example.com", "password": USER_PASSWORD, "role": role}
    response = client.post(f"{BASE}/users", json=body, headers=bearer(admin))
    assert response.status_code == 201, response.text
    return response.json()


def refresh_cookie(response: httpx.Response) -> str:
    return response.cookies["cms_refresh"]


def refresh_with(client: TestClient[Any], token: str, headers: dict[str, str] | None = None) -> httpx.Response:
    client.cookies.clear()
    return client.post(f"{BASE}/auth/refresh", headers={"Cookie": f"cms_refresh={token}", **(headers or {})})


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def together(count: int, action: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """`action(n)` in `count` threads released at once by a barrier; their responses, in order of n."""
    barrier = threading.Barrier(count)

    def run(n: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return action(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count), timeout=120))


def usernames(client: TestClient[Any], admin: str) -> list[str]:
    response = client.get(f"{BASE}/users", headers=bearer(admin))
    assert response.status_code == 200, response.text
    return [user["username"] for user in response.json()]


# --- login ---------------------------------------------------------------------------------------------------

def test_login_answers_a_bearer_token_and_a_locked_down_refresh_cookie(client: TestClient[Any]) -> None:
    response = client.post(f"{BASE}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    assert "no-store" in response.headers["cache-control"]
    cookie = response.headers["set-cookie"]
    for attribute in ("cms_refresh=", "HttpOnly", "Secure", "SameSite=strict", "Path=/api/v1/auth"):
        assert attribute in cookie


@pytest.mark.parametrize("form", [False, True], ids=["json", "oauth2-form"])
@pytest.mark.parametrize("name", ["admin", "admin@localhost", "ADMIN"], ids=["username", "email", "any-case"])
def test_login_by_username_or_email_as_json_or_form(client: TestClient[Any], name: str, form: bool) -> None:
    fields = {"username": name, "password": ADMIN_PASSWORD}
    response = client.post(f"{BASE}/auth/login", data={**fields, "grant_type": "password", "scope": ""}) if form \
        else client.post(f"{BASE}/auth/login", json=fields)
    assert response.status_code == 200, response.text
    me = client.get(f"{BASE}/auth/me", headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200 and me.json()["username"] == "admin"


@pytest.mark.parametrize("name", ["admin", "nobody"], ids=["wrong-password", "unknown-user"])
def test_failed_login_is_401_without_saying_which_part_was_wrong(client: TestClient[Any], name: str) -> None:
    response = client.post(f"{BASE}/auth/login", json={"username": name, "password": "not-the-password"})
    body = assert_problem(response, 401)
    assert body["detail"] == "wrong username or password"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(("content", "status"), [
    ({"json": {"username": "admin"}}, 400),
    ({"json": {"username": "admin", "password": ADMIN_PASSWORD, "remember": True}}, 400),
    ({"json": {"username": "admin", "password": 12345678}}, 400),
    ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ({"content": b"admin:pw", "headers": {"Content-Type": "text/plain"}}, 415),
    ({"data": {"username": "admin", "password": ADMIN_PASSWORD, "grant_type": "client_credentials"}}, 400),
    ({"data": {"username": "admin"}}, 400),
], ids=["missing-password", "unknown-field", "wrong-type", "broken-json", "text", "other-grant", "form-no-password"])
def test_malformed_login_bodies_get_problems(client: TestClient[Any], content: dict[str, Any], status: int) -> None:
    response = client.post(f"{BASE}/auth/login", **content)
    assert_problem(response, status)
    assert "set-cookie" not in response.headers


def test_failed_logins_are_rate_limited_per_address_across_server_processes(indexed: Path,
                                                                           env: dict[str, str]) -> None:
    with running(indexed, **env) as client:
        for _ in range(10):
            wrong = client.post(f"{BASE}/auth/login", json={"username": "admin", "password": "guess-1234"})
            assert wrong.status_code == 401
        response = client.post(f"{BASE}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert_problem(response, 429)
        assert 1 <= int(response.headers["retry-after"]) <= 300
    with running(indexed, **env) as other_process:
        response = other_process.post(f"{BASE}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert_problem(response, 429)


def test_racing_wrong_logins_from_one_address_let_exactly_the_limit_through(indexed: Path,
                                                                            env: dict[str, str]) -> None:
    """Two apps on one state database, as two server processes would be, get 60 wrong logins at once: exactly
    the limit of them are checked (401), every other one is refused before its password is looked at (429)."""
    wrong = {"username": "admin", "password": "guess-1234"}
    with running(indexed, **env) as first, running(indexed, **env) as second:
        apps = (first, second)
        responses = together(RACERS, lambda n: apps[n % 2].post(f"{BASE}/auth/login", json=wrong))
    assert Counter(response.status_code for response in responses) == {401: LIMIT, 429: RACERS - LIMIT}
    assert all(1 <= int(response.headers["retry-after"]) <= 300 for response in responses
               if response.status_code == 429)


# --- access tokens -------------------------------------------------------------------------------------------

def test_access_token_opens_me_without_leaking_secrets(client: TestClient[Any]) -> None:
    response = client.get(f"{BASE}/auth/me", headers=bearer(login(client)))
    assert response.status_code == 200
    assert response.json() == {"id": 1, "username": "admin", "email": "admin@localhost", "full_name": None,
                               "role": "ADMIN", "is_active": True, "created_at": response.json()["created_at"]}
    assert "no-store" in response.headers["cache-control"]


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "1", "role": "ADMIN", "tv": 0, "jti": "test-jti", "iat": now, "exp": now + 600,
              "aud": "coursebase-admin", "iss": "coursebase"}
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


BAD_TOKENS = {
    "forged": lambda: jwt.encode(_claims(), "another-secret-key-of-the-same-length-012345", algorithm="HS256"),
    "expired": lambda: jwt.encode(_claims(iat=int(time.time()) - 3600, exp=int(time.time()) - 60), SECRET),
    "wrong-audience": lambda: jwt.encode(_claims(aud="someone-else"), SECRET),
    "wrong-issuer": lambda: jwt.encode(_claims(iss="evil"), SECRET),
    "alg-none": lambda: _unsigned(_claims()),
    "hs512": lambda: jwt.encode(_claims(), SECRET, algorithm="HS512"),
    "no-jti": lambda: jwt.encode(_claims(jti=None), SECRET),
    "no-exp": lambda: jwt.encode(_claims(exp=None), SECRET),
    "no-iat": lambda: jwt.encode(_claims(iat=None), SECRET),
    "no-audience": lambda: jwt.encode(_claims(aud=None), SECRET),
    "sub-not-a-user-id": lambda: jwt.encode(_claims(sub="admin"), SECRET),
    "unknown-user": lambda: jwt.encode(_claims(sub="999"), SECRET),
    "old-token-version": lambda: jwt.encode(_claims(tv=-1), SECRET),
    "garbage": lambda: "not.a.token",
}


def test_a_well_made_token_is_accepted(client: TestClient[Any]) -> None:
    """The control for the next test: the same claims, properly signed, do get in."""
    assert client.get(f"{BASE}/users", headers=bearer(jwt.encode(_claims(), SECRET))).status_code == 200


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_bad_tokens_are_401_everywhere(client: TestClient[Any], kind: str) -> None:
    token = BAD_TOKENS[kind]()
    for path in ("/auth/me", "/users", "/courses", "/courses/advanced-testing"):
        response = client.get(f"{BASE}{path}", headers=bearer(token))
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [None, "Bearer", "Basic YWRtaW46cGFzc3dvcmQ=", "Token abc"])
def test_missing_or_non_bearer_authorization_is_401(client: TestClient[Any], header: str | None) -> None:
    response = client.get(f"{BASE}/auth/me", headers={"Authorization": header} if header else {})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_user_role_gets_403_on_user_management(client: TestClient[Any]) -> None:
    admin = login(client)
    create_user(client, admin, "alice")
    alice = login(client, "alice", USER_PASSWORD)
    assert client.get(f"{BASE}/auth/me", headers=bearer(alice)).status_code == 200
    assert_problem(client.get(f"{BASE}/users", headers=bearer(alice)), 403)
    body = {"username": "mallory", "email": "m@example.com", "password": USER_PASSWORD, "role": "ADMIN"}
    assert_problem(client.post(f"{BASE}/users", json=body, headers=bearer(alice)), 403)
    assert_problem(client.delete(f"{BASE}/users/1", headers=bearer(alice)), 403)
    assert usernames(client, admin) == ["admin", "alice"]


# --- refresh and logout --------------------------------------------------------------------------------------

def test_refresh_rotates_and_a_reused_token_ends_the_whole_login(client: TestClient[Any]) -> None:
    first = refresh_cookie(client.post(f"{BASE}/auth/login", json={"username": "admin",
                                                                   "password": ADMIN_PASSWORD}))
    rotated = refresh_with(client, first)
    assert rotated.status_code == 200, rotated.text
    second = refresh_cookie(rotated)
    assert second != first
    assert client.get(f"{BASE}/auth/me", headers=bearer(rotated.json()["access_token"])).status_code == 200
    assert_problem(refresh_with(client, first), 401)
    assert_problem(refresh_with(client, second), 401)


def test_a_reused_refresh_token_also_ends_the_access_tokens_of_that_login(client: TestClient[Any]) -> None:
    """The thief's access token and the owner's both stop working; another login of the same user does not."""
    other = login(client)
    first = client.post(f"{BASE}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    rotated = refresh_with(client, refresh_cookie(first))
    assert rotated.status_code == 200, rotated.text
    assert_problem(refresh_with(client, refresh_cookie(first)), 401)
    for access in (first.json()["access_token"], rotated.json()["access_token"]):
        assert_problem(client.get(f"{BASE}/auth/me", headers=bearer(access)), 401)
    assert client.get(f"{BASE}/auth/me", headers=bearer(other)).status_code == 200


def test_the_cookie_jar_carries_the_refresh_token_to_the_auth_routes(client: TestClient[Any]) -> None:
    login(client)
    for _ in range(3):
        assert client.post(f"{BASE}/auth/refresh").status_code == 200


def test_refresh_without_a_cookie_or_with_an_unknown_one_is_401(client: TestClient[Any]) -> None:
    assert_problem(client.post(f"{BASE}/auth/refresh"), 401)
    assert_problem(refresh_with(client, "made-up-token"), 401)


def test_refresh_works_while_the_access_token_sent_along_has_expired(client: TestClient[Any]) -> None:
    token = refresh_cookie(client.post(f"{BASE}/auth/login", json={"username": "admin",
                                                                   "password": ADMIN_PASSWORD}))
    stale = bearer(BAD_TOKENS["expired"]())
    assert refresh_with(client, token, stale).status_code == 200


def test_an_expired_refresh_token_is_401(client: TestClient[Any], state_db: Path) -> None:
    token = refresh_cookie(client.post(f"{BASE}/auth/login", json={"username": "admin",
                                                                   "password": ADMIN_PASSWORD}))
    with sqlite3.connect(state_db) as conn:
        conn.execute("UPDATE refresh_tokens SET expires_at = ?", (int(time.time()) - 1,))
    assert_problem(refresh_with(client, token), 401)


def test_logout_revokes_the_refresh_token_and_the_access_token(client: TestClient[Any]) -> None:
    response = client.post(f"{BASE}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    access, refresh = response.json()["access_token"], refresh_cookie(response)
    out = client.post(f"{BASE}/auth/logout", headers=bearer(access))
    assert out.status_code == 204
    assert 'cms_refresh=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    assert_problem(refresh_with(client, refresh), 401)
    assert_problem(client.get(f"{BASE}/auth/me", headers=bearer(access)), 401)
    assert client.get(f"{BASE}/auth/me", headers=bearer(login(client))).status_code == 200


# --- password and role changes -------------------------------------------------------------------------------

def test_password_change_ends_every_session(client: TestClient[Any]) -> None:
    first = client.post(f"{BASE}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    second = client.post(f"{BASE}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    access = first.json()["access_token"]
    change = {"current_password": ADMIN_PASSWORD, "new_password": "a-new-password-2"}
    response = client.patch(f"{BASE}/auth/password", json=change, headers=bearer(access))
    assert response.status_code == 204, response.text
    for session in (first, second):
        assert_problem(client.get(f"{BASE}/auth/me", headers=bearer(session.json()["access_token"])), 401)
        assert_problem(refresh_with(client, refresh_cookie(session)), 401)
    assert_problem(client.post(f"{BASE}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}), 401)
    assert client.get(f"{BASE}/auth/me", headers=bearer(login(client, "admin", "a-new-password-2"))).status_code == 200


@pytest.mark.parametrize(("change", "status"), [
    ({"current_password": "wrong-password", "new_password": "a-new-password-2"}, 401),
    ({"current_password": ADMIN_PASSWORD, "new_password": "short"}, 422),
    ({"current_password": ADMIN_PASSWORD}, 400),
], ids=["wrong-current", "too-short", "missing-new"])
def test_refused_password_change_changes_nothing(client: TestClient[Any], change: dict[str, str],
                                                 status: int) -> None:
    access = login(client)
    assert_problem(client.patch(f"{BASE}/auth/password", json=change, headers=bearer(access)), status)
    assert client.get(f"{BASE}/auth/me", headers=bearer(access)).status_code == 200
    login(client)


def test_wrong_current_passwords_are_rate_limited_per_user_like_logins(client: TestClient[Any]) -> None:
    """Past the limit even the right password is refused and changes nothing; logins are counted apart."""
    admin = login(client)
    wrong = {"current_password": "wrong-password", "new_password": "a-new-password-2"}
    for _ in range(LIMIT):
        assert_problem(client.patch(f"{BASE}/auth/password", json=wrong, headers=bearer(admin)), 401)
    right = {"current_password": ADMIN_PASSWORD, "new_password": "a-new-password-2"}
    response = client.patch(f"{BASE}/auth/password", json=right, headers=bearer(admin))
    assert_problem(response, 429)
    assert 1 <= int(response.headers["retry-after"]) <= 300
    assert client.get(f"{BASE}/auth/me", headers=bearer(login(client))).status_code == 200


def test_role_change_ends_the_users_sessions(client: TestClient[Any]) -> None:
    admin = login(client)
    moderator = create_user(client, admin, "mod", role="MODERATOR")
    response = client.post(f"{BASE}/auth/login", json={"username": "mod", "password": USER_PASSWORD})
    access, refresh = response.json()["access_token"], refresh_cookie(response)
    assert client.get(f"{BASE}/courses/advanced-testing", headers=bearer(access)).status_code == 200
    demoted = {"username": "mod", "email": "mod@example.com", "role": "USER"}
    assert client.put(f"{BASE}/users/{moderator['id']}", json=demoted, headers=bearer(admin)).status_code == 200
    assert_problem(client.get(f"{BASE}/auth/me", headers=bearer(access)), 401)
    assert_problem(refresh_with(client, refresh), 401)
    again = login(client, "mod", USER_PASSWORD)
    assert client.get(f"{BASE}/courses/advanced-testing", headers=bearer(again)).status_code == 404
    assert_problem(client.get(f"{BASE}/users", headers=bearer(again)), 403)


def test_deactivated_users_cannot_use_tokens_or_log_in(client: TestClient[Any]) -> None:
    admin = login(client)
    alice = create_user(client, admin, "alice")
    token = login(client, "alice", USER_PASSWORD)
    off = {"username": "alice", "email": "alice@example.com", "role": "USER", "is_active": False}
    assert client.put(f"{BASE}/users/{alice['id']}", json=off, headers=bearer(admin)).json()["is_active"] is False
    assert_problem(client.get(f"{BASE}/auth/me", headers=bearer(token)), 401)
    assert_problem(client.post(f"{BASE}/auth/login", json={"username": "alice", "password": USER_PASSWORD}), 401)


# --- users CRUD ----------------------------------------------------------------------------------------------

def test_users_crud(client: TestClient[Any]) -> None:
    admin = login(client)
    created = create_user(client, admin, "alice", role="MODERATOR")
    assert created["role"] == "MODERATOR" and created["email"] == "alice@example.com"
    assert client.get(f"{BASE}/users/{created['id']}", headers=bearer(admin)).json() == created
    replaced = {"username": "alice.b", "email": "alice.b@example.com", "full_name": "Alice B", "role": "MODERATOR",
                "password": "another-password"}
    response = client.put(f"{BASE}/users/{created['id']}", json=replaced, headers=bearer(admin))
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "alice.b" and response.json()["full_name"] == "Alice B"
    login(client, "alice.b@example.com", "another-password")
    assert client.delete(f"{BASE}/users/{created['id']}", headers=bearer(admin)).status_code == 204
    assert_problem(client.get(f"{BASE}/users/{created['id']}", headers=bearer(admin)), 404)
    assert_problem(client.delete(f"{BASE}/users/{created['id']}", headers=bearer(admin)), 404)
    assert usernames(client, admin) == ["admin"]


@pytest.mark.parametrize("taken", [{"username": "alice", "email": "other@example.com"},
                                   {"username": "other", "email": "ALICE@example.com"}], ids=["username", "email"])
def test_duplicate_username_or_email_is_409_and_creates_nothing(client: TestClient[Any],
                                                               taken: dict[str, str]) -> None:
    admin = login(client)
    create_user(client, admin, "alice")
    response = client.post(f"{BASE}/users", json={**taken, "password": USER_PASSWORD}, headers=bearer(admin))
    assert "already taken" in assert_problem(response, 409)["detail"]
    assert usernames(client, admin) == ["admin", "alice"]


GOOD_USER = {"username": "bob", "email": "bob@example.com", "password": USER_PASSWORD, "role": "USER"}


@pytest.mark.parametrize(("changes", "status", "field"), [
    ({"username": "Bob"}, 422, "username"),
    ({"username": "bo"}, 422, "username"),
    ({"username": "bob smith"}, 422, "username"),
    ({"username": "b" * 51}, 422, "username"),
    ({"email": "bob"}, 422, "email"),
    ({"email": "bob@exa mple.com"}, 422, "email"),
    ({"password": "seven77"}, 422, "password"),
    ({"role": "ROOT"}, 400, None),
    ({"is_admin": True}, 400, None),
    ({"email": None}, 400, None),
    ({"password_hash": "$argon2id$v=19$m=8,t=1,p=1$x$y"}, 400, None),
], ids=["uppercase", "too-short", "space", "too-long", "email", "email-space", "short-password", "role",
        "unknown-field", "null-email", "sets-a-hash"])
def test_bad_user_input_is_refused_with_a_problem_and_creates_nothing(
        client: TestClient[Any], changes: dict[str, Any], status: int, field: str | None) -> None:
    admin = login(client)
    response = client.post(f"{BASE}/users", json={**GOOD_USER, **changes}, headers=bearer(admin))
    body = assert_problem(response, status)
    if field is not None:
        assert [error["key"] for error in body["errors"]] == [field]
    assert usernames(client, admin) == ["admin"]


def test_the_last_admin_cannot_be_demoted_deactivated_or_deleted(client: TestClient[Any]) -> None:
    admin = login(client)
    for change in ({"role": "USER"}, {"role": "ADMIN", "is_active": False}):
        body = {"username": "admin", "email": "admin@localhost", **change}
        assert_problem(client.put(f"{BASE}/users/1", json=body, headers=bearer(admin)), 409)
    assert_problem(client.delete(f"{BASE}/users/1", headers=bearer(admin)), 409)
    assert client.get(f"{BASE}/auth/me", headers=bearer(admin)).json()["role"] == "ADMIN"


def test_the_password_hash_never_appears_in_any_response(client: TestClient[Any], state_db: Path) -> None:
    seen: list[httpx.Response] = []
    admin = login(client)
    seen.append(client.get(f"{BASE}/auth/me", headers=bearer(admin)))
    created = client.post(f"{BASE}/users", json=GOOD_USER, headers=bearer(admin))
    seen.append(created)
    seen.append(client.get(f"{BASE}/users", headers=bearer(admin)))
    seen.append(client.get(f"{BASE}/users/{created.json()['id']}", headers=bearer(admin)))
    seen.append(client.put(f"{BASE}/users/{created.json()['id']}", json=GOOD_USER, headers=bearer(admin)))
    seen.append(client.post(f"{BASE}/users", json=GOOD_USER, headers=bearer(admin)))
    seen.append(client.post(f"{BASE}/auth/login", json={"username": "bob", "password": USER_PASSWORD}))
    seen.append(client.post(f"{BASE}/auth/refresh"))
    seen.append(client.get(f"{BASE}/docs/openapi.json"))
    with sqlite3.connect(state_db) as conn:
        hashes = [row[0] for row in conn.execute("SELECT password_hash FROM users")]
    assert len(hashes) == 2 and all(value.startswith("$argon2id$") for value in hashes)
    for response in seen:
        text = response.text + str(response.headers)
        assert "$argon2" not in text and "password_hash" not in text and "token_version" not in text
        assert not any(value in text for value in hashes)


# --- routes that must stay shut ------------------------------------------------------------------------------

ADMIN_ONLY = [("GET", "/users"), ("GET", "/users/"), ("GET", "/USERS"), ("GET", "/Users/1"), ("GET", "/%75sers"),
              ("GET", "/%55SERS"), ("GET", "/users/%31"), ("GET", "/users/1/"), ("GET", "//users"),
              ("GET", "/users/1;x"), ("HEAD", "/users"), ("HEAD", "/users/1"), ("OPTIONS", "/users"),
              ("OPTIONS", "/users/1"), ("POST", "/users"), ("POST", "/users/"), ("POST", "/%75sers"),
              ("PUT", "/users/1"), ("PUT", "/users/1/"), ("PATCH", "/users/1"), ("DELETE", "/users/1"),
              ("DELETE", "/%75sers/1"), ("DELETE", "/users/1/")]
SIGNED_IN = [("GET", "/auth/me"), ("GET", "/auth/me/"), ("GET", "/auth/%6De"), ("HEAD", "/auth/me"),
             ("OPTIONS", "/auth/me"), ("PATCH", "/auth/password"), ("PATCH", "/auth/password/"),
             ("OPTIONS", "/auth/password")]
MALLORY = {"username": "mallory", "email": "mallory@example.com", "password": USER_PASSWORD, "role": "ADMIN",
           "full_name": None, "current_password": ADMIN_PASSWORD, "new_password": "owned-password-1"}


def test_admin_routes_under_path_variants_and_methods_never_let_anyone_in(client: TestClient[Any]) -> None:
    admin = login(client)
    create_user(client, admin, "alice")
    alice = login(client, "alice", USER_PASSWORD)
    tries = [(method, path, {}) for method, path in ADMIN_ONLY + SIGNED_IN]
    tries += [(method, path, bearer(alice)) for method, path in ADMIN_ONLY]
    for method, path, headers in tries:
        response = client.request(method, f"{BASE}{path}", headers=headers, json=MALLORY)
        who = "alice" if headers else "anonymous"
        if method == "OPTIONS" and response.status_code == 204:  # it lists the methods, before any guard
            assert not response.content and response.headers["allow"], (method, path, who)
            continue
        assert response.status_code in (401, 403, 404, 405), (method, path, who, response.status_code)
        assert "admin@localhost" not in response.text and "no-store" in response.headers.get("cache-control", "")
    assert usernames(client, admin) == ["admin", "alice"]
    assert client.get(f"{BASE}/auth/me", headers=bearer(admin)).json()["role"] == "ADMIN"
    login(client)


def test_unknown_query_parameters_are_refused_on_auth_routes(client: TestClient[Any]) -> None:
    admin = login(client)
    assert_problem(client.get(f"{BASE}/auth/me?verbose=1", headers=bearer(admin)), 400)
    assert_problem(client.get(f"{BASE}/users?page=2", headers=bearer(admin)), 400)
    assert_problem(client.post(f"{BASE}/auth/login?debug=1", json={"username": "admin",
                                                                   "password": ADMIN_PASSWORD}), 400)
    assert client.get(f"{BASE}/users/1", headers=bearer(admin)).status_code == 200


# --- admin reads through the public routes -------------------------------------------------------------------

DRAFTS = ["/courses/advanced-testing", "/courses/advanced-testing/lessons/fakes"]


@pytest.mark.parametrize("path", DRAFTS)
def test_staff_tokens_read_drafts_privately_and_nobody_else_does(client: TestClient[Any], path: str) -> None:
    admin = login(client)
    create_user(client, admin, "mod", role="MODERATOR")
    create_user(client, admin, "alice")
    for token in (admin, login(client, "mod", USER_PASSWORD)):
        response = client.get(f"{BASE}{path}", headers=bearer(token))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "draft"
        assert response.headers["cache-control"] == "private, no-store"
    assert_problem(client.get(f"{BASE}{path}"), 404)
    assert_problem(client.get(f"{BASE}{path}", headers=bearer(login(client, "alice", USER_PASSWORD))), 404)


def test_the_openapi_document_lists_the_auth_routes(client: TestClient[Any]) -> None:
    paths = client.get(f"{BASE}/docs/openapi.json").json()["paths"]
    for path in ("/auth/login", "/auth/refresh", "/auth/logout", "/auth/me", "/auth/password", "/users",
                 "/users/{user_id}"):
        assert f"{BASE}{path}" in paths


# --- start-up and settings -----------------------------------------------------------------------------------

def test_first_superuser_is_created_once_and_never_overwritten(indexed: Path, env: dict[str, str]) -> None:
    with running(indexed, **env) as client:
        login(client)
    with running(indexed, **{**env, "FIRST_SUPERUSER_PASSWORD": "a-different-password"}) as client:
        login(client)
        assert_problem(client.post(f"{BASE}/auth/login", json={"username": "admin",
                                                               "password": "a-different-password"}), 401)
        assert usernames(client, login(client)) == ["admin"]


def test_first_superuser_may_be_an_email(indexed: Path, env: dict[str, str]) -> None:
    with running(indexed, **{**env, "FIRST_SUPERUSER": "root@example.com"}) as client:
        me = client.get(f"{BASE}/auth/me", headers=bearer(login(client, "root@example.com"))).json()
    assert (me["username"], me["email"], me["role"]) == ("root", "root@example.com", "ADMIN")


def test_state_lives_beside_the_index_and_never_in_the_repository(tmp_path: Path) -> None:
    site = indexed_site(tmp_path / "own-site")
    with running(site, **ADMIN_ENV) as client:
        login(client)
    assert (site / ".cms" / "state.db").is_file()
    assert git(site, "status", "--porcelain") == ""
    with sqlite3.connect(site / ".cms" / "index.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not tables & {"users", "refresh_tokens", "login_attempts"}


def test_cms_state_url_moves_the_state_database(indexed: Path, env: dict[str, str], tmp_path: Path) -> None:
    with running(indexed, **env) as client:
        login(client)
    assert (tmp_path / "own-state" / "state.db").is_file() and not (indexed / ".cms" / "state.db").exists()


class Remember(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def api_log() -> Iterator[Remember]:
    """Warnings of `coursebase.api` (Litestar configures logging itself, so caplog misses them)."""
    handler, logger = Remember(), logging.getLogger("coursebase.api")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_without_a_secret_key_the_admin_api_is_off_and_the_public_api_works(
        indexed: Path, api_log: Remember, tmp_path: Path) -> None:
    state_db = tmp_path / "state.db"
    with running(indexed, CMS_STATE_URL=f"sqlite:///{state_db}") as client:
        for method, path in [("POST", "/auth/login"), ("POST", "/auth/refresh"), ("GET", "/auth/me"),
                             ("GET", "/users"), ("DELETE", "/users/1")]:
            response = client.request(method, f"{BASE}{path}", json={"username": "admin", "password": "x" * 8})
            assert assert_problem(response, 503)["detail"] == "admin API disabled: set CMS_SECRET_KEY"
        assert client.get(f"{BASE}/courses").status_code == 200
        with_header = client.get(f"{BASE}/courses/intro-to-testing", headers=bearer("anything"))
        assert with_header.status_code == 200 and with_header.headers["cache-control"] == "private, no-store"
        assert_problem(client.get(f"{BASE}/courses/advanced-testing", headers=bearer("anything")), 404)
    assert len([message for message in api_log.messages if "CMS_SECRET_KEY is not set" in message]) == 1
    assert not state_db.exists() and not (indexed / ".cms" / "state.db").exists()


def test_a_short_secret_key_is_a_config_error_that_names_it_but_not_its_value() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"CMS_SECRET_KEY": "too-short-secret"})
    assert "CMS_SECRET_KEY" in error.value.message and "at least 32" in error.value.message
    assert "too-short-secret" not in error.value.message


@pytest.mark.parametrize(("env", "named"), [
    ({"FIRST_SUPERUSER": "admin", "FIRST_SUPERUSER_PASSWORD": ADMIN_PASSWORD}, "CMS_SECRET_KEY"),
    ({"FIRST_SUPERUSER": "admin", "CMS_SECRET_KEY": SECRET}, "FIRST_SUPERUSER_PASSWORD"),
    ({"FIRST_SUPERUSER_PASSWORD": ADMIN_PASSWORD, "CMS_SECRET_KEY": SECRET}, "FIRST_SUPERUSER"),
], ids=["no-key", "no-password", "no-user"])
def test_first_superuser_half_configured_stops_start_up(indexed: Path, env: dict[str, str], named: str) -> None:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(indexed / "content"), **env})
    with pytest.raises(ConfigError, match=named):
        create_app(settings)


def test_an_invalid_first_superuser_stops_start_up(indexed: Path) -> None:
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(indexed / "content"), **ADMIN_ENV,
                                  "FIRST_SUPERUSER": "Not A Name"})
    with pytest.raises(ConfigError, match=r"FIRST_SUPERUSER.*username"):
        create_app(settings)
