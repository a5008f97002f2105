"""Who is calling: bearer tokens on every request, and role guards (the lifespan opens `cms.accounts.Accounts`).

`AuthMiddleware` reads `Authorization: Bearer …` on every request and sets
`request.state.user` and `request.state.can_see_hidden` (ADMIN and
MODERATOR read drafts through the public routes). No header means
anonymous; a header that is not a valid, current bearer token is a 401,
never a silent fall-back to anonymous. Without CMS_SECRET_KEY no token can
be checked: headers are ignored, the public API works, and every auth and
admin route answers 503 (`admin_api_enabled`).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, ServiceUnavailableException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Guard, Receive, Scope, Send

from api.deps import Opened, services_of
from cms.accounts import STAFF, Accounts, Claims, Role, User
from cms.errors import NotAuthenticated

REFRESH_COOKIE = "cms_refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth"
"""The refresh token is sent to the auth routes only (the API's base path is /api/v1)."""
DISABLED = "admin API disabled: set CMS_SECRET_KEY"
BEARER_OPTIONAL = {"bearer_optional": True}
"""Handler `opt` for login, refresh and logout: a stale access token sent along is ignored, not a 401,
so a client holding an expired token can still get a new one or log out."""


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            _identify(scope)
        await self.app(scope, receive, send)


def _identify(scope: Scope) -> None:
    auth = _accounts(scope["app"])
    header = Headers.from_scope(scope).get("authorization")
    user: User | None = None
    claims: Claims | None = None
    if header is not None and auth is not None:
        user, claims = _authenticate(auth, header, scope["route_handler"].opt.get("bearer_optional", False))
    state = scope.setdefault("state", {})
    state.update(user=user, claims=claims, can_see_hidden=user is not None and user.role in STAFF)
    scope["user"], scope["auth"] = user, claims


def _accounts(app: Litestar) -> Accounts | None:
    services = services_of(app)
    return None if services is None else services.accounts


def _authenticate(auth: Accounts, header: str, optional: bool) -> tuple[User | None, Claims | None]:
    try:
        return auth.sessions.authenticate(_bearer(header))
    except NotAuthenticated:
        if optional:
            return None, None
        raise


def _bearer(header: str) -> str:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send `Authorization: Bearer <access token>`", reason="invalid-token")
    return token.strip()


def admin_api_enabled(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if _accounts(connection.app) is None:
        raise ServiceUnavailableException(DISABLED)


admin_api_enabled.admin_api = True  # type: ignore[attr-defined]  # the OpenAPI document adds 503 (api.spec)


def requires(*roles: Role) -> Guard:
    """A guard: the caller must have a valid token (401) with one of `roles` (403)."""
    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if user is None:
            raise NotAuthorizedException("this route needs `Authorization: Bearer <access token>`",
                                         headers={"WWW-Authenticate": "Bearer"})
        if user.role not in roles:
            raise PermissionDeniedException(f"this route needs the role {' or '.join(roles)}")
    guard.roles = roles  # type: ignore[attr-defined]  # the OpenAPI document adds bearer security (api.spec)
    return guard


def provide_auth(services: Opened) -> Accounts:
    """The admin API's accounts (a guard has made sure the admin API is on)."""
    assert services.accounts is not None, "admin_api_enabled guards every route that asks for it"
    return services.accounts


def provide_caller(request: Request[Any, Any, Any]) -> User:
    """The caller (a guard has made sure there is one)."""
    return request.scope["user"]


AUTH_DEPENDENCIES = {"auth": Provide(provide_auth, sync_to_thread=False),
                     "caller": Provide(provide_caller, sync_to_thread=False)}
