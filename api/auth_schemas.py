"""Wire shapes of the auth and users API.

`UserOut` has no field for the password hash or the token version, so
neither can leak. Request bodies refuse fields they do not know (400); the
rules on usernames, emails and passwords live in `cms.accounts.users` (422).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from api.schemas import Wire
from cms.accounts import Role, User

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
FullName = Annotated[str, msgspec.Meta(max_length=1000)]


class Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body."""


class LoginIn(Body, kw_only=True):
    """JSON login; the username may be the email. (The OAuth2 password form carries the same two fields.)"""

    username: Name
    password: Password


class PasswordChangeIn(Body, kw_only=True):
    current_password: Password
    new_password: Password


class UserIn(Body, kw_only=True):
    username: Name
    email: Name
    password: Password
    full_name: FullName | None = None
    role: Role = Role.USER


class UserReplaceIn(Body, kw_only=True):
    """A whole user; leave `password` out to keep it. A new role or password ends the user's sessions."""

    username: Name
    email: Name
    role: Role
    full_name: FullName | None = None
    is_active: bool = True
    password: Password | None = None


class TokenOut(Wire, kw_only=True):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class UserOut(Wire, kw_only=True):
    id: int
    username: str
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    created_at: str


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, username=user.username, email=user.email, full_name=user.full_name, role=user.role,
                   is_active=user.is_active, created_at=user.created_at)
