"""Access tokens: short-lived JWTs signed with CMS_SECRET_KEY.

One algorithm, HS256, is pinned on both sides, so a token that names
another one (`none`, HS512, RS256 with the key as a public key) is refused
whatever it carries. Every token must have `exp`, `iat`, `sub`, `jti`, the
audience and the issuer. The claim `tv` is the user's token_version when the
token was issued; whoever checks a token compares it with the current one
(see `cms.accounts.sessions`), which is how a password or role change ends sessions.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated

import msgspec

from cms.accounts.users import User
from cms.errors import NotAuthenticated

ALGORITHM = "HS256"
AUDIENCE = "coursebase-admin"
ISSUER = "coursebase"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "aud", "iss"]


class Claims(msgspec.Struct, frozen=True, kw_only=True):
    """What an access token says, once its signature and times have been checked."""

    sub: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,18}$")]
    role: str
    tv: int
    jti: str
    iat: int
    exp: int

    @property
    def user_id(self) -> int:
        return int(self.sub)


class AccessToken(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    expires_in: int
    claims: Claims


class TokenSigner:
    """Issues and checks access tokens with one key and one lifetime."""

    def __init__(self, secret_key: str, minutes: int) -> None:
        self._key = secret_key
        self.lifetime = minutes * 60

    def issue(self, user: User) -> AccessToken:
        import jwt  # PyJWT takes a third of a second to import: the API needs it, `cms --help` does not

        now = int(time.time())
        claims = Claims(sub=str(user.id), role=user.role.value, tv=user.token_version,
                        jti=secrets.token_urlsafe(16), iat=now, exp=now + self.lifetime)
        payload = {**msgspec.structs.asdict(claims), "aud": AUDIENCE, "iss": ISSUER}
        token = jwt.encode(payload, self._key, algorithm=ALGORITHM)
        return AccessToken(token=token, expires_in=self.lifetime, claims=claims)

    def decode(self, token: str) -> Claims:
        """The claims of a valid token; `NotAuthenticated` for anything else."""
        import jwt

        try:
            payload = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                                 options={"require": REQUIRED_CLAIMS})
            claims = msgspec.convert(payload, Claims)
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("the access token has expired", reason="token-expired") from None
        except (jwt.InvalidTokenError, msgspec.ValidationError):
            raise NotAuthenticated("the access token is not valid", reason="invalid-token") from None
        return claims
