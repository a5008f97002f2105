"""Wire shapes of the auth and users API.

`UserOut` has no field for the password hash or the token version, so
neither can leak. Request bodies refuse fields they do not know (400); the
rules on usernames, emails and passwords live in `cms.accounts.users` (422).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from api.schemas import Wire
from cms.accounts import Role, User, users

END = r"(?![\s\S])"
"""The very end of the text (a pattern's `$` would also match before a final newline)."""
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
FullName = Annotated[str, msgspec.Meta(extra_json_schema={"maxLength": users.FULL_NAME_MAX})]
# What the account rules accept (checked by cms.accounts with 422), for the OpenAPI document.
Username = Annotated[str, msgspec.Meta(min_length=1, max_length=254, extra_json_schema={
    "pattern": f"^{users.USERNAME.pattern}{END}", "description": "3 to 50 of a-z, 0-9, `.`, `_` and `-`."})]
Email = Annotated[str, msgspec.Meta(min_length=1, max_length=254, extra_json_schema={
    "pattern": f"^{users.EMAIL.pattern}{END}", "description": "A valid email address (as `<input type=email>`)."})]
NewPassword = Annotated[str, msgspec.Meta(extra_json_schema={"minLength": users.PASSWORD_MIN,
                                                             "maxLength": users.PASSWORD_MAX})]


class Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body."""


class LoginIn(Body, kw_only=True):
    """JSON login; the username may be the email. (The OAuth2 password form carries the same two fields.)"""

    username: Name
    password: Password


class PasswordChangeIn(Body, kw_only=True):
    current_password: Password
    new_password: NewPassword


class UserIn(Body, kw_only=True):
    username: Username
    email: Email
    password: NewPassword
    full_name: FullName | None = None
    role: Role = Role.USER


class UserReplaceIn(Body, kw_only=True):
    """A whole user; leave `password` out to keep it. A new role or password ends the user's sessions."""

    username: Username
    email: Email
    role: Role
    full_name: FullName | None = None
    is_active: bool = True
    password: NewPassword | None = None


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
