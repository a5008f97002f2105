"""Who is calling: bearer tokens on every request, role guards, and the state database's lifespan.

`AuthMiddleware` reads `Authorization: Bearer …` on every request and sets
`request.state.user` and `request.state.can_see_hidden` (ADMIN and
MODERATOR read drafts through the public routes). No header means
anonymous; a header that is not a valid, current bearer token is a 401,
never a silent fall-back to anonymous. Without CMS_SECRET_KEY no token can
be checked: headers are ignored, the public API works, and every auth and
admin route answers 503 (`admin_api_enabled`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, ServiceUnavailableException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Guard, Receive, Scope, Send

from cms.accounts import (
    STAFF,
    Claims,
    Role,
    Sessions,
    StateDB,
    TokenSigner,
    User,
    UserStore,
    check_admin_settings,
    state_path,
)
from cms.content.corpus import ContentTree
from cms.errors import NotAuthenticated
from cms.settings import Settings

REFRESH_COOKIE = "cms_refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth"
"""The refresh token is sent to the auth routes only (the API's base path is /api/v1)."""
DISABLED = "admin API disabled: set CMS_SECRET_KEY"
BEARER_OPTIONAL = {"bearer_optional": True}
"""Handler `opt` for login, refresh and logout: a stale access token sent along is ignored, not a 401,
so a client holding an expired token can still get a new one or log out."""
log = logging.getLogger("coursebase.api")


@dataclass
class Auth:
    """What the auth routes need, opened by the lifespan when CMS_SECRET_KEY is set."""

    db: StateDB
    users: UserStore
    sessions: Sessions


def open_auth(settings: Settings, tree: ContentTree) -> Auth | None:
    """Open the state database and create FIRST_SUPERUSER if missing; None when the admin API is off."""
    if settings.secret_key is None:
        log.warning("CMS_SECRET_KEY is not set: the admin API (/api/v1/auth, /api/v1/users) is disabled and "
                    "answers 503; the public read API is served as usual")
        return None
    db = StateDB(state_path(tree, settings.state_url))
    users = UserStore(db)
    name, password = settings.first_superuser, settings.first_superuser_password
    if name and password and users.ensure_admin(name, password) is not None:
        log.warning("created the first admin %r (FIRST_SUPERUSER)", name)
    signer = TokenSigner(settings.secret_key, settings.access_token_minutes)
    return Auth(db=db, users=users, sessions=Sessions(users, signer, settings.refresh_token_days))


def auth_lifespan(settings: Settings, tree: ContentTree) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Open the auth state at start-up. The admin settings are checked now, so a half-set or invalid
    FIRST_SUPERUSER stops `create_app` with a ConfigError instead of failing inside the server."""
    check_admin_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.auth = open_auth(settings, tree)
        try:
            yield
        finally:
            if app.state.auth is not None:
                app.state.auth.db.close()
    return lifespan


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            _identify(scope)
        await self.app(scope, receive, send)


def _identify(scope: Scope) -> None:
    auth: Auth | None = getattr(scope["app"].state, "auth", None)
    header = Headers.from_scope(scope).get("authorization")
    user: User | None = None
    claims: Claims | None = None
    if header is not None and auth is not None:
        user, claims = _authenticate(auth, header, scope["route_handler"].opt.get("bearer_optional", False))
    state = scope.setdefault("state", {})
    state.update(user=user, claims=claims, can_see_hidden=user is not None and user.role in STAFF)
    scope["user"], scope["auth"] = user, claims


def _authenticate(auth: Auth, header: str, optional: bool) -> tuple[User | None, Claims | None]:
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
    if getattr(connection.app.state, "auth", None) is None:
        raise ServiceUnavailableException(DISABLED)


def requires(*roles: Role) -> Guard:
    """A guard: the caller must have a valid token (401) with one of `roles` (403)."""
    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if user is None:
            raise NotAuthorizedException("this route needs `Authorization: Bearer <access token>`",
                                         headers={"WWW-Authenticate": "Bearer"})
        if user.role not in roles:
            raise PermissionDeniedException(f"this route needs the role {' or '.join(roles)}")
    return guard


def provide_auth(request: Request[Any, Any, Any]) -> Auth:
    return request.app.state.auth


def provide_caller(request: Request[Any, Any, Any]) -> User:
    """The caller (a guard has made sure there is one)."""
    return request.scope["user"]


AUTH_DEPENDENCIES = {"auth": Provide(provide_auth, sync_to_thread=False),
                     "caller": Provide(provide_caller, sync_to_thread=False)}
