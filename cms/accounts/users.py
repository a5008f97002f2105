"""Users of the admin API, kept in the state database.

Passwords are hashed with argon2id. Every user has a `token_version`:
access tokens carry it, and changing a password, a role or deactivating a
user bumps it and revokes every refresh token, so all of that user's
sessions end at once. User ids are never reused (AUTOINCREMENT, or an
identity on Postgres), so a token of a deleted user cannot become a token of
a new one. Usernames and emails are unique and found whatever their case.
"""

from __future__ import annotations

import re
import time
from enum import StrEnum

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cms.accounts.state import StateDB
from cms.database import Connection, Row
from cms.errors import ConfigError, Conflict, InvalidInput, NotAuthenticated, NotFound
from cms.settings import Settings
from cms.timestamps import utc_now

PASSWORD_HASHER = PasswordHasher()
"""argon2id with the library's recommended cost; tests swap in a cheap one."""

USERNAME = re.compile(r"[a-z0-9._-]{3,50}")
EMAIL = re.compile(r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                   r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*")
"""The WHATWG definition of a valid email address (what `<input type=email>` accepts)."""
PASSWORD_MIN, PASSWORD_MAX = 8, 1000
EMAIL_MAX, FULL_NAME_MAX = 254, 200

USER_COLUMNS = "id, username, email, full_name, role, is_active, created_at, token_version"


class Role(StrEnum):
    ADMIN = "ADMIN"
    MODERATOR = "MODERATOR"
    USER = "USER"


STAFF = frozenset({Role.ADMIN, Role.MODERATOR})
"""Roles that may read drafts and other hidden entries."""


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A user as the rest of the code sees it: there is no field for the password hash."""

    id: int
    username: str
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    created_at: str
    token_version: int


class NewUser(msgspec.Struct, frozen=True, kw_only=True):
    username: str
    email: str
    password: str
    role: Role = Role.USER
    full_name: str | None = None


class UserChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a `PUT` replaces; `password=None` keeps the current one."""

    username: str
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    password: str | None = None


def _user(row: Row) -> User:
    return msgspec.convert(row, User, strict=False)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
BY_NAME = "lower(username) = :name OR lower(email) = :name"
"""A user by username or email, whatever its case (the value `folded`)."""


def folded(name: str) -> str:
    """`name` with its ASCII letters in lower case, as `lower()` folds the stored names (ASCII) in both
    databases; `str.lower` would also turn a Kelvin sign into a `k`, which neither database does."""
    return name.translate(_ASCII_LOWER)


def check_fields(username: str, email: str, full_name: str | None, password: str | None) -> None:
    """Every rule a user's fields break, at once (422)."""
    problems: dict[str, str] = {}
    if not USERNAME.fullmatch(username):
        problems["username"] = "must be 3 to 50 characters of a-z, 0-9, '.', '_' and '-'"
    if len(email) > EMAIL_MAX or not EMAIL.fullmatch(email):
        problems["email"] = "must be a valid email address"
    if full_name is not None and len(full_name) > FULL_NAME_MAX:
        problems["full_name"] = f"must be at most {FULL_NAME_MAX} characters"
    problems.update(_password_problem(password, "password"))
    if problems:
        raise InvalidInput(problems)


def _password_problem(password: str | None, field: str) -> dict[str, str]:
    if password is None or PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return {}
    return {field: f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"}


def end_sessions(conn: Connection, user_id: int) -> None:
    """Invalidate every access token (new token_version) and refresh token of a user."""
    conn.execute("UPDATE users SET token_version = token_version + 1 WHERE id = :id", {"id": user_id})
    conn.execute("UPDATE refresh_tokens SET revoked_at = :now WHERE user_id = :id AND revoked_at IS NULL",
                 {"now": int(time.time()), "id": user_id})


class UserStore:
    """Create, read, replace and delete users; check and change passwords."""

    def __init__(self, db: StateDB, hasher: PasswordHasher | None = None) -> None:
        self.db = db
        self.hasher = hasher or PASSWORD_HASHER
        self._dummy_hash: str | None = None

    def create(self, new: NewUser) -> User:
        check_fields(new.username, new.email, new.full_name, new.password)
        password_hash = self.hasher.hash(new.password)
        with self.db.write() as conn:
            _check_unique(conn, new.username, new.email, None)
            row = conn.execute(
                "INSERT INTO users (username, email, full_name, role, password_hash, created_at) "
                "VALUES (:username, :email, :full_name, :role, :hash, :now) RETURNING id",
                {"username": new.username, "email": new.email, "full_name": new.full_name, "role": new.role.value,
                 "hash": password_hash, "now": utc_now()}).fetchone()
            return read_user(conn, row["id"])

    def get(self, user_id: int) -> User:
        rows = self.db.rows(f"SELECT {USER_COLUMNS} FROM users WHERE id = :id", {"id": user_id})
        if not rows:
            raise NotFound(f"no user with id {user_id}")
        return _user(rows[0])

    def find(self, identifier: str) -> User | None:
        """A user by username or email (either way, case-insensitive)."""
        rows = self.db.rows(f"SELECT {USER_COLUMNS} FROM users WHERE {BY_NAME}", {"name": folded(identifier)})
        return _user(rows[0]) if rows else None

    def list(self) -> list[User]:
        return [_user(row) for row in self.db.rows(f"SELECT {USER_COLUMNS} FROM users ORDER BY id")]

    def replace(self, user_id: int, changes: UserChanges) -> User:
        """Replace a user's fields; a new role, password or deactivation ends their sessions."""
        check_fields(changes.username, changes.email, changes.full_name, changes.password)
        password_hash = self.hasher.hash(changes.password) if changes.password is not None else None
        with self.db.write() as conn:
            current = read_user(conn, user_id)
            _check_unique(conn, changes.username, changes.email, user_id)
            _keep_an_admin(conn, current, changes.role, changes.is_active)
            conn.execute("UPDATE users SET username = :username, email = :email, full_name = :full_name, "
                         "role = :role, is_active = :active WHERE id = :id",
                         {"username": changes.username, "email": changes.email, "full_name": changes.full_name,
                          "role": changes.role.value, "active": int(changes.is_active), "id": user_id})
            if password_hash is not None:
                conn.execute("UPDATE users SET password_hash = :hash WHERE id = :id",
                             {"hash": password_hash, "id": user_id})
            if password_hash is not None or changes.role != current.role or not changes.is_active:
                end_sessions(conn, user_id)
            return read_user(conn, user_id)

    def delete(self, user_id: int) -> None:
        with self.db.write() as conn:
            current = read_user(conn, user_id)
            _keep_an_admin(conn, current, None, False)
            conn.execute("DELETE FROM users WHERE id = :id", {"id": user_id})

    def verify(self, identifier: str, password: str) -> User | None:
        """The active user with these credentials, or None.

        An unknown name costs the same hashing work as a wrong password, so
        response times do not tell which usernames exist.
        """
        rows = self.db.rows(f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE {BY_NAME}",
                            {"name": folded(identifier)})
        if not rows:
            self._check(self._dummy(), password)
            return None
        user, stored = _user(rows[0]), rows[0]["password_hash"]
        if not self._check(stored, password) or not user.is_active:
            return None
        if self.hasher.check_needs_rehash(stored):
            self._set_hash(user.id, stored, self.hasher.hash(password))
        return user

    def change_password(self, user_id: int, current: str, new: str) -> User:
        """Change a password after checking the current one; every session of the user ends."""
        if problem := _password_problem(new, "new_password"):
            raise InvalidInput(problem)
        rows = self.db.rows("SELECT password_hash FROM users WHERE id = :id AND is_active = 1", {"id": user_id})
        if not rows or not self._check(rows[0]["password_hash"], current):
            raise NotAuthenticated("the current password is not correct")
        new_hash = self.hasher.hash(new)
        with self.db.write() as conn:
            conn.execute("UPDATE users SET password_hash = :hash WHERE id = :id", {"hash": new_hash, "id": user_id})
            end_sessions(conn, user_id)
            return read_user(conn, user_id)

    def ensure_admin(self, identifier: str, password: str) -> User | None:
        """Create the first admin (FIRST_SUPERUSER) unless that user exists; None if it did.

        An existing user is left alone: restarting with another FIRST_SUPERUSER_PASSWORD resets nothing.
        """
        new = first_admin(identifier, password)
        if self.find(identifier) is not None:
            return None
        try:
            return self.create(new)
        except Conflict as error:
            if self.find(identifier) is not None:
                return None  # another server process created it first
            raise ConfigError(f"FIRST_SUPERUSER={identifier!r} cannot be created: {error.message}") from None

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("not a real password")
        return self._dummy_hash

    def _set_hash(self, user_id: int, old: str, new: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE users SET password_hash = :new WHERE id = :id AND password_hash = :old",
                         {"new": new, "id": user_id, "old": old})


def first_admin(identifier: str, password: str) -> NewUser:
    """FIRST_SUPERUSER as a new ADMIN: a username (email `<username>@localhost`), or an email whose
    local part becomes the username. Rule breaks are a ConfigError, found before the server starts."""
    username, email = (identifier.split("@", 1)[0], identifier) if "@" in identifier \
        else (identifier, f"{identifier}@localhost")
    try:
        check_fields(username, email, None, password)
    except InvalidInput as error:
        raise ConfigError(f"FIRST_SUPERUSER / FIRST_SUPERUSER_PASSWORD are not valid: {error.message}") from None
    return NewUser(username=username, email=email, password=password, role=Role.ADMIN)


def check_admin_settings(settings: Settings) -> None:
    """Fail at start-up, with a message naming the variable, on a half-set or invalid FIRST_SUPERUSER."""
    settings.check_first_superuser()
    if settings.first_superuser and settings.first_superuser_password:
        first_admin(settings.first_superuser, settings.first_superuser_password)


def read_user(conn: Connection, user_id: int) -> User:
    row = conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = :id", {"id": user_id}).fetchone()
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return _user(row)


def _check_unique(conn: Connection, username: str, email: str, user_id: int | None) -> None:
    for column, value in (("username", username), ("email", email)):
        row = conn.execute(f"SELECT id FROM users WHERE lower({column}) = :value AND id <> :id",
                           {"value": folded(value), "id": user_id or 0}).fetchone()  # ids start at 1
        if row is not None:
            raise Conflict(f"{column} {value!r} is already taken", reason=f"{column}-taken")


def _keep_an_admin(conn: Connection, current: User, role: Role | None, active: bool) -> None:
    """Refuse to remove, demote or deactivate the last active ADMIN: nobody could manage users then."""
    if current.role != Role.ADMIN or not current.is_active or (role == Role.ADMIN and active):
        return
    admins = conn.execute("SELECT count(*) AS n FROM users WHERE role = 'ADMIN' AND is_active = 1").fetchone()
    if admins["n"] <= 1:
        raise Conflict(f"{current.username!r} is the last active ADMIN: make another user ADMIN first",
                       reason="last-admin")
