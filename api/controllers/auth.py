"""Logging in and out: access tokens in the body, the refresh token in an HttpOnly cookie."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, ValidationException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import JSONBody

from api.auth import (
    AUTH_DEPENDENCIES,
    BEARER_OPTIONAL,
    REFRESH_COOKIE,
    REFRESH_COOKIE_PATH,
    admin_api_enabled,
    requires,
)
from api.auth_schemas import LoginIn, PasswordChangeIn, TokenOut, UserOut, user_out
from api.deps import Opened
from api.spec import documented
from cms.accounts import Accounts, Role, Session, User
from cms.errors import NotAuthenticated
from cms.settings import Settings

FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass
class LoginOperation(Operation):
    """The login body for the OpenAPI document: JSON or the OAuth2 password form (the handler reads it itself)."""

    def __post_init__(self) -> None:
        fields = {"username": Schema(type=OpenAPIType.STRING, min_length=1, max_length=254,
                                     description="The username or the email."),
                  "password": Schema(type=OpenAPIType.STRING, min_length=1, max_length=1000)}
        json_body = Schema(type=OpenAPIType.OBJECT, properties=fields, required=["username", "password"],
                           additional_properties=False)
        grant = Schema(type=OpenAPIType.STRING, enum=["password"], description="The OAuth2 grant: `password`.")
        form = Schema(type=OpenAPIType.OBJECT, properties={**fields, "grant_type": grant},
                      required=["username", "password"])
        self.request_body = RequestBody(required=True, content={
            "application/json": OpenAPIMediaType(schema=json_body),
            "application/x-www-form-urlencoded": OpenAPIMediaType(schema=form)})


class LoginController(Controller):
    """Routes anyone may call: they take credentials or the refresh cookie, not an access token."""

    path = "/auth"
    tags = ["auth"]
    guards = [admin_api_enabled]
    dependencies = AUTH_DEPENDENCIES
    cache_control = CacheControlHeader(no_store=True)

    @post("/login", status_code=200, opt={**BEARER_OPTIONAL, **documented(415, 422, 429, tokenless=True)},
          operation_class=LoginOperation)
    async def login(self, request: Request[Any, Any, Any], auth: NamedDependency[Accounts],
                    services: Opened) -> Response[TokenOut]:
        """Log in with a username (or email) and password, sent as JSON `{"username", "password"}` or as
        the OAuth2 password form. Answers an access token; the refresh token comes as the `cms_refresh`
        cookie. Ten failures from one address in five minutes get 429 with `Retry-After`."""
        credentials = await _credentials(request)
        address = request.client.host if request.client else "unknown"
        session = await sync_to_thread(auth.sessions.login, credentials.username, credentials.password, address)
        return _session_response(session, services.settings)

    @post("/refresh", status_code=200, opt={**BEARER_OPTIONAL, **documented(cookie=True)}, sync_to_thread=False)
    def refresh(self, request: Request[Any, Any, Any], auth: NamedDependency[Accounts],
                services: Opened) -> Response[TokenOut]:
        """Trade the `cms_refresh` cookie for a new access token and a new refresh cookie. A refresh token
        works once: presenting a used one ends every session of that login."""
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise NotAuthenticated("no refresh token: log in first", reason="invalid-refresh-token")
        return _session_response(auth.sessions.refresh(token), services.settings)

    @post("/logout", status_code=204, opt={**BEARER_OPTIONAL, **documented(cookie=True, anonymous=True)},
          sync_to_thread=False)
    def logout(self, request: Request[Any, Any, Any], auth: NamedDependency[Accounts],
               services: Opened) -> Response[None]:
        """Revoke the refresh cookie's login and the access token sent along, and clear the cookie."""
        auth.sessions.logout(request.cookies.get(REFRESH_COOKIE), request.scope.get("auth"))
        return _clear_cookie(Response(None, status_code=204), services.settings)


class AccountController(Controller):
    """The caller's own account: any signed-in role (the guards cover every method, OPTIONS too)."""

    path = "/auth"
    tags = ["auth"]
    guards = [admin_api_enabled, requires(*Role)]
    dependencies = AUTH_DEPENDENCIES
    cache_control = CacheControlHeader(no_store=True)

    @get("/me")
    async def me(self, caller: NamedDependency[User]) -> UserOut:
        """The user the access token belongs to."""
        return user_out(caller)

    @patch("/password", status_code=204, sync_to_thread=True, opt=documented(429))
    def change_password(self, auth: NamedDependency[Accounts], caller: NamedDependency[User],
                        data: JSONBody[PasswordChangeIn], services: Opened) -> Response[None]:
        """Change your password (the current one is checked). Every session of yours ends, this one too:
        log in again with the new password."""
        auth.sessions.change_password(caller, data.current_password, data.new_password)
        return _clear_cookie(Response(None, status_code=204), services.settings)


async def _credentials(request: Request[Any, Any, Any]) -> LoginIn:
    """The login body, JSON or the OAuth2 password form (grant_type, if sent, must be `password`)."""
    media_type, _ = request.content_type
    try:
        if media_type in FORMS:
            form = await request.form()
            if form.get("grant_type", "password") != "password":
                raise ValidationException("unsupported grant_type: use 'password'")
            fields = {name: form.get(name) for name in ("username", "password") if name in form}
            return msgspec.convert(fields, LoginIn)
        if media_type != "application/json":
            raise ClientException("send JSON or the OAuth2 password form", status_code=415)
        return msgspec.json.decode(await request.body(), type=LoginIn)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise ValidationException("the login body is not valid",
                                  extra=[{"message": str(error), "source": "body"}]) from None


def _same_site(settings: Settings) -> Literal["strict", "none"]:
    """Strict, unless CMS_CORS_CREDENTIALS lets a site on another origin use the cookie (then None)."""
    return "none" if settings.cors_credentials and settings.cors_origins else "strict"


def _session_response(session: Session, settings: Settings) -> Response[TokenOut]:
    response = Response(TokenOut(access_token=session.access.token, expires_in=session.access.expires_in))
    response.set_cookie(REFRESH_COOKIE, session.refresh_token, max_age=session.refresh_max_age,
                        path=REFRESH_COOKIE_PATH, secure=True, httponly=True, samesite=_same_site(settings))
    return response


def _clear_cookie(response: Response[Any], settings: Settings) -> Response[Any]:
    response.set_cookie(REFRESH_COOKIE, "", max_age=0, path=REFRESH_COOKIE_PATH, secure=True, httponly=True,
                        samesite=_same_site(settings))
    return response


HANDLERS = [LoginController, AccountController]
