"""Sessions: logging in, refresh-token rotation, logging out, and whose bearer token this is.

A login gives a short-lived access token (`cms.tokens`) and a long-lived
refresh token. Refresh tokens are random strings stored only as SHA-256
hashes. Each use revokes the token and issues the next one in the same
family; presenting a token that was already used revokes the whole family,
because only a replay or a thief can do that. Failed logins are counted per
client address in the state database, so the limit holds across server
processes.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import sqlite3
import time

import msgspec

from cms.errors import NotAuthenticated, NotFound, RateLimited
from cms.tokens import AccessToken, Claims, TokenSigner
from cms.users import StateDB, User, UserStore, read_user

LOGIN_FAILURES_ALLOWED = 10
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
        self._check_rate(address)
        user = self.users.verify(identifier.strip(), password)
        if user is None:
            self._record_failure(address)
            raise NotAuthenticated("wrong username or password", reason="bad-credentials")
        return self._start(user, secrets.token_urlsafe(16))

    def refresh(self, token: str) -> Session:
        """Rotate a refresh token: the old one stops working, a new one of the same family is issued."""
        new_token = secrets.token_urlsafe(32)
        with self.db.write() as conn:
            outcome = self._rotate(conn, _digest(token), _digest(new_token))
        if isinstance(outcome, str):
            raise NotAuthenticated(outcome, reason="invalid-refresh-token")
        return Session(user=outcome, access=self.signer.issue(outcome), refresh_token=new_token,
                       refresh_max_age=self.refresh_lifetime)

    def logout(self, refresh_token: str | None, claims: Claims | None) -> None:
        """Revoke the refresh token's family and, if given, the access token in hand."""
        now = int(time.time())
        with self.db.write() as conn:
            if refresh_token:
                row = conn.execute("SELECT family FROM refresh_tokens WHERE token_hash = ?",
                                   (_digest(refresh_token),)).fetchone()
                if row is not None:
                    _revoke_family(conn, row["family"], now)
            if claims is not None:
                conn.execute("DELETE FROM revoked_access_tokens WHERE expires_at < ?", (now,))
                conn.execute("INSERT OR IGNORE INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?)",
                             (claims.jti, claims.exp))

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

    def _start(self, user: User, family: str) -> Session:
        token = secrets.token_urlsafe(32)
        now = int(time.time())
        with self.db.write() as conn:
            _insert_refresh(conn, _digest(token), user.id, family, now, now + self.refresh_lifetime)
        return Session(user=user, access=self.signer.issue(user), refresh_token=token,
                       refresh_max_age=self.refresh_lifetime)

    def _rotate(self, conn: sqlite3.Connection, old_hash: str, new_hash: str) -> User | str:
        """The user for a good token (rotated in `conn`), or why it was refused."""
        now = int(time.time())
        row = conn.execute("SELECT id, user_id, family, expires_at, revoked_at FROM refresh_tokens "
                           "WHERE token_hash = ?", (old_hash,)).fetchone()
        if row is None:
            return "the refresh token is not valid"
        if row["revoked_at"] is not None:
            _revoke_family(conn, row["family"], now)
            return "the refresh token was already used or revoked; every session of that login has ended"
        user = conn.execute("SELECT id FROM users WHERE id = ? AND is_active = 1", (row["user_id"],)).fetchone()
        if row["expires_at"] <= now or user is None:
            return "the refresh token has expired; log in again"
        conn.execute("UPDATE refresh_tokens SET revoked_at = ? WHERE id = ?", (now, row["id"]))
        _insert_refresh(conn, new_hash, row["user_id"], row["family"], now, now + self.refresh_lifetime)
        return read_user(conn, row["user_id"])

    def _revoked(self, jti: str) -> bool:
        return bool(self.db.rows("SELECT 1 FROM revoked_access_tokens WHERE jti = ?", (jti,)))

    def _check_rate(self, address: str) -> None:
        now = time.time()
        times = [row[0] for row in self.db.rows(
            "SELECT attempted_at FROM login_attempts WHERE address = ? AND attempted_at > ? ORDER BY attempted_at",
            (address, now - LOGIN_WINDOW_SECONDS))]
        if len(times) >= LOGIN_FAILURES_ALLOWED:
            retry_after = max(1, math.ceil(times[len(times) - LOGIN_FAILURES_ALLOWED] + LOGIN_WINDOW_SECONDS - now))
            raise RateLimited(f"too many failed logins from this address; try again in {retry_after} seconds",
                              retry_after)

    def _record_failure(self, address: str) -> None:
        now = time.time()
        with self.db.write() as conn:
            conn.execute("DELETE FROM login_attempts WHERE attempted_at <= ?", (now - LOGIN_WINDOW_SECONDS,))
            conn.execute("INSERT INTO login_attempts (address, attempted_at) VALUES (?, ?)", (address, now))


def _insert_refresh(conn: sqlite3.Connection, token_hash: str, user_id: int, family: str, now: int,
                    expires_at: int) -> None:
    conn.execute("INSERT INTO refresh_tokens (token_hash, user_id, family, issued_at, expires_at) "
                 "VALUES (?, ?, ?, ?, ?)", (token_hash, user_id, family, now, expires_at))


def _revoke_family(conn: sqlite3.Connection, family: str, now: int) -> None:
    conn.execute("UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL", (now, family))
