"""The state database and `cms users create`: users, sessions and login limits below the HTTP layer.

Every test that takes `db`, `store`, `sessions` or `state_url` runs on SQLite and on Postgres
(tests/accounts/conftest.py), with the same answers.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from cms.accounts import NewUser, Role, StateDB, TokenSigner, UserChanges, UserStore, state_location, users
from cms.accounts.sessions import LOGIN_FAILURES_ALLOWED, Sessions
from cms.cli import main
from cms.content.corpus import ContentTree
from cms.database import PostgresUrl, SqliteFile
from cms.errors import ConfigError, Conflict, InvalidInput, NotAuthenticated, RateLimited

SECRET = "a-test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"


@pytest.fixture
def store(db: StateDB) -> UserStore:
    return UserStore(db)


@pytest.fixture
def sessions(store: UserStore) -> Sessions:
    return Sessions(store, TokenSigner(SECRET, 15), refresh_days=14)


def add(store: UserStore, username: str, role: Role = Role.USER) -> users.User:
    return store.create(NewUser(username=username, email=f"{username}@example.com", password=PASSWORD, role=role))


# --- cms users create ----------------------------------------------------------------------------------------

@pytest.fixture
def cli_state(state_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`cms users create` (in-process) keeps its users in this test's state database."""
    monkeypatch.setenv("CMS_STATE_URL", state_url)
    return state_url


def run(site: Path, *args: str, stdin: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["users", "create", "--content-dir", str(site / "content"), *args],
                                input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_creates_an_admin_with_the_password_from_stdin(site: Path, cli_state: str) -> None:
    code, output = run(site, "--username", "ada", "--email", "ada@example.com", "--role", "ADMIN",
                       "--full-name", "Ada L", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert code == 0, output
    assert "created ADMIN 'ada'" in output and PASSWORD not in output
    with StateDB(cli_state) as db:
        user = UserStore(db).verify("ada", PASSWORD)
    assert user is not None and user.role == Role.ADMIN and user.full_name == "Ada L"


def test_cli_prompts_twice_for_the_password_without_stdin(site: Path, cli_state: str) -> None:
    code, output = run(site, "--username", "bob", "--email", "bob@example.com", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, output
    with StateDB(cli_state) as db:
        user = UserStore(db).verify("bob@example.com", PASSWORD)
    assert user is not None and user.role == Role.USER


@pytest.mark.parametrize(("args", "message"), [
    (["--username", "ada", "--email", "other@example.com"], "username 'ada' is already taken"),
    (["--username", "Not Valid", "--email", "x@example.com"], "username: must be 3 to 50"),
    (["--username", "carol", "--email", "nope"], "email: must be a valid email address"),
], ids=["duplicate", "bad-username", "bad-email"])
def test_cli_refusals_exit_2_with_the_reason(site: Path, cli_state: str, args: list[str], message: str) -> None:
    run(site, "--username", "ada", "--email", "ada@example.com", "--password-stdin", stdin=f"{PASSWORD}\n")
    code, output = run(site, *args, "--password-stdin", stdin=f"{PASSWORD}\n")
    assert code == 2 and message in output
    with StateDB(cli_state) as db:
        assert [user.username for user in UserStore(db).list()] == ["ada"]


def test_cli_refuses_a_short_password(site: Path, cli_state: str) -> None:
    code, output = run(site, "--username", "dan", "--email", "dan@example.com", "--password-stdin", stdin="short\n")
    assert code == 2 and "password: must be 8" in output


# --- users ---------------------------------------------------------------------------------------------------

def test_the_state_database_defaults_beside_the_index_and_follows_cms_state_url(site: Path, tmp_path: Path) -> None:
    tree = ContentTree.locate(site / "content")
    assert state_location(tree, None) == SqliteFile(site / ".cms" / "state.db", "CMS_STATE_URL")
    assert state_location(tree, f"sqlite:///{tmp_path}/s.db") == SqliteFile(tmp_path / "s.db", "CMS_STATE_URL")
    assert state_location(tree, "postgres://cms:pw@db/state") == PostgresUrl("postgres://cms:pw@db/state",
                                                                             "CMS_STATE_URL")
    with pytest.raises(ConfigError, match=r"^CMS_STATE_URL is not valid: 'mysql://cms:\*\*\*@db/state'"):
        state_location(tree, "mysql://cms:pw@db/state")


def test_the_state_folder_is_ignored_by_git(tmp_path: Path) -> None:
    with StateDB(tmp_path / ".cms" / "state.db") as db:
        assert isinstance(db.location, SqliteFile)
        assert (db.location.path.parent / ".gitignore").read_text().strip().endswith("*")


def test_every_broken_rule_is_reported_at_once(store: UserStore) -> None:
    with pytest.raises(InvalidInput) as error:
        store.create(NewUser(username="A", email="no", password="short", full_name="x" * 201))
    assert set(error.value.fields) == {"username", "email", "password", "full_name"}
    assert store.list() == []


def test_usernames_and_emails_are_unique_whatever_their_case(store: UserStore) -> None:
    add(store, "ada")
    with pytest.raises(Conflict):
        store.create(NewUser(username="ada2", email="ADA@EXAMPLE.COM", password=PASSWORD))
    assert store.find("ADA") is not None and store.find("Ada@Example.com") is not None


def test_a_role_change_bumps_the_token_version_but_a_rename_does_not(store: UserStore) -> None:
    ada = add(store, "ada", Role.MODERATOR)
    renamed = store.replace(ada.id, UserChanges(username="ada.l", email=ada.email, full_name=None,
                                                role=Role.MODERATOR, is_active=True))
    assert renamed.token_version == ada.token_version
    demoted = store.replace(ada.id, UserChanges(username="ada.l", email=ada.email, full_name=None, role=Role.USER,
                                                is_active=True))
    assert demoted.token_version == ada.token_version + 1


def test_hashes_made_with_old_parameters_are_upgraded_at_login(store: UserStore, db: StateDB) -> None:
    ada = add(store, "ada")
    store.hasher = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    assert store.verify("ada", PASSWORD) == ada
    stored_hash = db.rows("SELECT password_hash FROM users")[0]["password_hash"]
    assert "m=16,t=2" in stored_hash and store.verify("ada", PASSWORD) == ada


def test_password_change_checks_the_current_password(store: UserStore) -> None:
    ada = add(store, "ada")
    with pytest.raises(NotAuthenticated):
        store.change_password(ada.id, "wrong password", "a new password")
    with pytest.raises(InvalidInput, match="new_password"):
        store.change_password(ada.id, PASSWORD, "short")
    assert store.change_password(ada.id, PASSWORD, "a new password").token_version == ada.token_version + 1
    assert store.verify("ada", "a new password") is not None and store.verify("ada", PASSWORD) is None


# --- sessions ------------------------------------------------------------------------------------------------

def test_refresh_tokens_are_stored_only_as_sha256_hashes(sessions: Sessions, store: UserStore, db: StateDB) -> None:
    add(store, "ada")
    session = sessions.login("ada", PASSWORD, "10.0.0.1")
    rows = db.rows("SELECT token_hash FROM refresh_tokens")
    assert [row["token_hash"] for row in rows] == [hashlib.sha256(session.refresh_token.encode()).hexdigest()]
    assert session.refresh_token not in str(db.rows("SELECT * FROM refresh_tokens"))


def test_refresh_token_lifetime_follows_the_setting(sessions: Sessions, store: UserStore, db: StateDB) -> None:
    add(store, "ada")
    session = sessions.login("ada", PASSWORD, "10.0.0.1")
    (row,) = db.rows("SELECT issued_at, expires_at FROM refresh_tokens")
    assert row["expires_at"] - row["issued_at"] == 14 * 86400 == session.refresh_max_age


def test_login_limit_counts_failures_per_address_in_a_window(sessions: Sessions, store: UserStore,
                                                             db: StateDB) -> None:
    add(store, "ada")
    for _ in range(LOGIN_FAILURES_ALLOWED):
        with pytest.raises(NotAuthenticated):
            sessions.login("ada", "wrong password", "10.0.0.1")
    with pytest.raises(RateLimited) as limited:
        sessions.login("ada", PASSWORD, "10.0.0.1")
    assert 290 <= limited.value.retry_after <= 300
    assert sessions.login("ada", PASSWORD, "10.0.0.2").user.username == "ada"
    with db.write() as conn:
        conn.execute("UPDATE login_attempts SET attempted_at = :then", {"then": time.time() - 301})
    assert sessions.login("ada", PASSWORD, "10.0.0.1").user.username == "ada"


def test_a_success_does_not_reset_the_failure_count(sessions: Sessions, store: UserStore) -> None:
    """Otherwise an attacker with one account could keep guessing others' passwords from one address."""
    add(store, "ada")
    for _ in range(LOGIN_FAILURES_ALLOWED - 1):
        with pytest.raises(NotAuthenticated):
            sessions.login("someone", "guess", "10.0.0.1")
    sessions.login("ada", PASSWORD, "10.0.0.1")
    with pytest.raises(NotAuthenticated):
        sessions.login("someone", "guess", "10.0.0.1")
    with pytest.raises(RateLimited):
        sessions.login("ada", PASSWORD, "10.0.0.1")


def test_deleting_a_user_ends_their_tokens_and_ids_are_not_reused(sessions: Sessions, store: UserStore) -> None:
    add(store, "admin", Role.ADMIN)
    ada = add(store, "ada")
    session = sessions.login("ada", PASSWORD, "10.0.0.1")
    store.delete(ada.id)
    with pytest.raises(NotAuthenticated):
        sessions.authenticate(session.access.token)
    with pytest.raises(NotAuthenticated):
        sessions.refresh(session.refresh_token)
    assert add(store, "bob").id != ada.id


def test_first_admin_is_created_from_a_username_or_an_email(store: UserStore) -> None:
    admin = store.ensure_admin("root", PASSWORD)
    assert admin is not None and (admin.email, admin.role) == ("root@localhost", Role.ADMIN)
    assert store.ensure_admin("root", "another password") is None
    with pytest.raises(ConfigError, match="already taken"):
        store.ensure_admin("root@example.org", PASSWORD)


def test_cms_serve_stops_before_serving_when_first_superuser_is_half_set(site: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRST_SUPERUSER", "ada")
    monkeypatch.setenv("FIRST_SUPERUSER_PASSWORD", PASSWORD)
    result = CliRunner().invoke(main, ["serve", str(site / "content")], catch_exceptions=False)
    assert result.exit_code == 2 and "CMS_SECRET_KEY" in result.output
