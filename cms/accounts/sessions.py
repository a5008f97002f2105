"""Sessions: logging in, refresh-token rotation, logging out, and whose bearer token this is.

A login gives a short-lived access token (`cms.accounts.tokens`) and a long-lived
refresh token. Refresh tokens are random strings stored only as SHA-256
hashes. Each use revokes the token and issues the next one in the same
family; presenting a token that was already used revokes the whole family,
because only a replay or a thief can do that, and with it every access token
issued to that family (their ids are recorded as they are issued).

Password guesses are counted in the state database: logins per client
address, current passwords (`PATCH /auth/password`) per user. An attempt is
admitted and recorded in one write transaction before the password is
checked, so however many requests race, in however many server processes,
at most `LOGIN_FAILURES_ALLOWED` of them reach argon2 in a window; a
successful attempt is forgotten again.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec

from cms.accounts.state import StateDB
from cms.accounts.tokens import AccessToken, Claims, TokenSigner
from cms.accounts.users import User, UserStore, read_user
from cms.database import Connection
from cms.errors import NotAuthenticated, NotFound, RateLimited

LOGIN_FAILURES_ALLOWED = 10
"""Wrong passwords allowed per address (logins) or per user (password changes) in the window."""
LOGIN_WINDOW_SECONDS = 300


class Session(msgspec.Struct, frozen=True, kw_only=True):
    user: User
    access: AccessToken
    refresh_token: str
    refresh_max_age: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Everything that turns credentials into tokens and tokens back into users."""

    def __init__(self, users: UserStore, signer: TokenSigner, refresh_days: int) -> None:
        self.users = users
        self.db: StateDB = users.db
        self.signer = signer
        self.refresh_lifetime = refresh_days * 86400

    def login(self, identifier: str, password: str, address: str) -> Session:
        """Check a username (or email) and password; too many failures from one address get 429."""
        with self._counted(address, "failed logins from this address"):
            user = self.users.verify(identifier.strip(), password)
            if user is None:
                raise NotAuthenticated("wrong username or password", reason="bad-credentials")
        with self.db.write() as conn:
            return self._issue(conn, user, secrets.token_urlsafe(16))

    def change_password(self, user: User, current: str, new: str) -> None:
        """Change `user`'s password, limited like logins: too many wrong current passwords get 429."""
        with self._counted(f"user:{user.id}", "wrong current passwords for this user"):
            self.users.change_password(user.id, current, new)

    def refresh(self, token: str) -> Session:
        """Rotate a refresh token: the old one stops working, a new one of the same family is issued."""
        with self.db.write() as conn:
            outcome = self._rotate(conn, _digest(token))
        if isinstance(outcome, str):
            raise NotAuthenticated(outcome, reason="invalid-refresh-token")
        return outcome

    def logout(self, refresh_token: str | None, claims: Claims | None) -> None:
        """Revoke the refresh token's family and, if given, the access token in hand."""
        now = int(time.time())
        with self.db.write() as conn:
            if refresh_token:
                row = conn.execute("SELECT family FROM refresh_tokens WHERE token_hash = :hash",
                                   {"hash": _digest(refresh_token)}).fetchone()
                if row is not None:
                    _revoke_family(conn, row["family"], now)
            if claims is not None:
                conn.execute("DELETE FROM revoked_access_tokens WHERE expires_at < :now", {"now": now})
                conn.execute("INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (:jti, :exp) "
                             "ON CONFLICT DO NOTHING", {"jti": claims.jti, "exp": claims.exp})

    def authenticate(self, token: str) -> tuple[User, Claims]:
        """The active user a bearer token belongs to, if the token is still theirs to use."""
        claims = self.signer.decode(token)
        try:
            user = self.users.get(claims.user_id)
        except NotFound:
            user = None
        if user is None or not user.is_active or user.token_version != claims.tv or self._revoked(claims.jti):
            raise NotAuthenticated("the access token has been revoked", reason="token-revoked")
        return user, claims

    def _issue(self, conn: Connection, user: User, family: str) -> Session:
        """A new access token and refresh token of `family`, both recorded in `conn`."""
        token, access, now = secrets.token_urlsafe(32), self.signer.issue(user), int(time.time())
        _insert_refresh(conn, _digest(token), user.id, family, now, now + self.refresh_lifetime)
        conn.execute("DELETE FROM issued_access_tokens WHERE expires_at < :now", {"now": now})
        conn.execute("INSERT INTO issued_access_tokens (jti, family, expires_at) VALUES (:jti, :family, :exp)",
                     {"jti": access.claims.jti, "family": family, "exp": access.claims.exp})
        return Session(user=user, access=access, refresh_token=token, refresh_max_age=self.refresh_lifetime)

    def _rotate(self, conn: Connection, old_hash: str) -> Session | str:
        """The next session for a good token (rotated in `conn`), or why it was refused."""
        now = int(time.time())
        row = conn.execute("SELECT id, user_id, family, expires_at, revoked_at FROM refresh_tokens "
                           "WHERE token_hash = :hash", {"hash": old_hash}).fetchone()
        if row is None:
            return "the refresh token is not valid"
        if row["revoked_at"] is not None:
            _revoke_family(conn, row["family"], now)
            return "the refresh token was already used or revoked; every session of that login has ended"
        user = conn.execute("SELECT id FROM users WHERE id = :id AND is_active = 1", {"id": row["user_id"]}).fetchone()
        if row["expires_at"] <= now or user is None:
            return "the refresh token has expired; log in again"
        conn.execute("UPDATE refresh_tokens SET revoked_at = :now WHERE id = :id", {"now": now, "id": row["id"]})
        return self._issue(conn, read_user(conn, row["user_id"]), row["family"])

    def _revoked(self, jti: str) -> bool:
        return bool(self.db.rows("SELECT 1 AS revoked FROM revoked_access_tokens WHERE jti = :jti", {"jti": jti}))

    @contextmanager
    def _counted(self, key: str, what: str) -> Iterator[None]:
        """One password check for `key`, admitted (or 429) and recorded before it runs. A wrong password
        (`NotAuthenticated`) stays counted; any other outcome is forgotten."""
        attempt = self._admit(key, what)
        try:
            yield
        except NotAuthenticated:
            raise  # a wrong password: the attempt stays counted
        except BaseException:
            self._forget(attempt)
            raise
        self._forget(attempt)

    def _admit(self, key: str, what: str) -> int:
        """Record an attempt for `key` unless the window holds the limit already: one write transaction, so
        racing requests and servers are counted one after the other. The attempt's id."""
        now = time.time()
        with self.db.write() as conn:
            conn.execute("DELETE FROM login_attempts WHERE attempted_at <= :since",
                         {"since": now - LOGIN_WINDOW_SECONDS})
            times = [row["attempted_at"] for row in conn.execute(
                "SELECT attempted_at FROM login_attempts WHERE address = :key ORDER BY attempted_at",
                {"key": key}).fetchall()]
            if len(times) >= LOGIN_FAILURES_ALLOWED:
                retry_after = max(1, math.ceil(times[-LOGIN_FAILURES_ALLOWED] + LOGIN_WINDOW_SECONDS - now))
                raise RateLimited(f"too many {what}; try again in {retry_after} seconds", retry_after)
            return conn.execute("INSERT INTO login_attempts (address, attempted_at) VALUES (:key, :now) RETURNING id",
                                {"key": key, "now": now}).fetchone()["id"]

    def _forget(self, attempt: int) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM login_attempts WHERE id = :id", {"id": attempt})


def _insert_refresh(conn: Connection, token_hash: str, user_id: int, family: str, now: int,
                    expires_at: int) -> None:
    conn.execute("INSERT INTO refresh_tokens (token_hash, user_id, family, issued_at, expires_at) "
                 "VALUES (:hash, :user, :family, :now, :expires)",
                 {"hash": token_hash, "user": user_id, "family": family, "now": now, "expires": expires_at})


def _revoke_family(conn: Connection, family: str, now: int) -> None:
    """End a login: its refresh tokens and every access token issued to it."""
    conn.execute("UPDATE refresh_tokens SET revoked_at = :now WHERE family = :family AND revoked_at IS NULL",
                 {"now": now, "family": family})
    conn.execute("INSERT INTO revoked_access_tokens (jti, expires_at) "
                 "SELECT jti, expires_at FROM issued_access_tokens WHERE family = :family ON CONFLICT DO NOTHING",
                 {"family": family})
