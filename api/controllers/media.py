"""Media assets for editors: upload, list, alt text, soft-delete, restore, delete (ADMIN and MODERATOR).

Each change is one git commit of `media/<id>.yml` by the caller, made by
`cms.media`; the answer is the record as editors see it, its new `version`
(also the `ETag`) and the commit. The public `GET /media/{media_id}` is a
catalog read. Upload and delete need Cloudinary and answer 503 without
CLOUDINARY_URL; `force=true` (ADMIN only) deletes an asset that content
still uses, removing it from those files in the same commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api import uploads
from api.auth import AUTH_DEPENDENCIES, admin_api_enabled, requires
from api.deps import EDITORS, Opened, Services, identity, if_match, services_of
from api.pagination import PageNumber, PageSize, paged, text_filter
from api.params import MediaId
from api.schemas import MediaAdminOut, MediaPage, to_wire
from api.spec import documented
from cms import media
from cms.accounts import Role, User
from cms.content.models import SLUG_MAX, SLUG_PATTERN, ResourceType
from cms.media import Spool
from cms.read import queries
from cms.write.commit import Versions
from cms.write.operations import Written

UPLOAD_FIELDS = frozenset({"alt", "id"})
Force = Annotated[bool, Parameter(description="ADMIN only: go ahead although content uses the asset, and remove "
                                              "it from those files in the same commit.")]
Resource = Annotated[ResourceType | None, Parameter(description="Only records of this resource type.")]
Deleted = Annotated[bool | None, Parameter(description="Only soft-deleted records (true) or live ones (false).")]
MediaText = text_filter("Text found in the id, the public_id or the alt text.")


def cloudinary_configured(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Upload and delete talk to Cloudinary: 503 without CLOUDINARY_URL."""
    services = services_of(connection.app)
    assert services is not None, "the lifespan has opened the services"
    services.media.cloud()


@dataclass
class UploadOperation(Operation):
    """The upload's multipart body, for the OpenAPI document (the handler reads the stream itself)."""

    def __post_init__(self) -> None:
        text = OpenAPIType.STRING
        fields = {
            "file": Schema(type=text, format=OpenAPIFormat.BINARY,
                           description="JPEG, PNG, GIF, WebP or AVIF image, or MP4, MOV or WebM video; "
                                       "the type is read from the bytes"),
            "alt": Schema(type=text, max_length=media.ALT_MAX, description="Alt text (required for images)."),
            "id": Schema(type=text, pattern=SLUG_PATTERN, max_length=SLUG_MAX,
                         description="The record's id; generated (img-… or vid-…) when left out.")}
        body = Schema(type=OpenAPIType.OBJECT, properties=fields, required=["file"])
        self.request_body = RequestBody(content={"multipart/form-data": OpenAPIMediaType(schema=body)},
                                        required=True)


class MediaWriteOut(msgspec.Struct, kw_only=True):
    """A media write's answer: the record (None once deleted), its new version and the commit."""

    entry: MediaAdminOut | None
    version: str | None
    commit: str


def answer(services: Services, written: Written, status: int = HTTP_200_OK) -> Response[MediaWriteOut]:
    entry = None
    headers = {"Cache-Control": "no-store"}
    if written.version is not None:
        entry = to_wire(queries.media_admin(services.index.conn, written.slug), MediaAdminOut)
        headers["ETag"] = f'"{written.version}"'
    return Response(MediaWriteOut(entry=entry, version=written.version, commit=written.commit),
                    status_code=status, headers=headers)


def forced(caller: NamedDependency[User], force: bool) -> bool:
    if force and caller.role != Role.ADMIN:
        raise PermissionDeniedException("force=true needs the role ADMIN")
    return force


def optional_if_match(request: Request[Any, Any, Any]) -> Versions | None:
    return if_match(request) if request.headers.get("if-match") else None


class MediaController(Controller):
    path = "/media"
    tags = ["media (admin)"]
    guards = [admin_api_enabled, requires(*EDITORS)]
    dependencies = AUTH_DEPENDENCIES

    @get("/", opt=documented(paged=True))
    async def list_media(self, request: Request[Any, Any, Any], services: Opened, resource_type: Resource = None,
                         deleted: Deleted = None, q: MediaText = None, page: PageNumber = 1,
                         page_size: PageSize = 20) -> Response[MediaPage]:
        """Every media record, soft-deleted ones included, newest first; `q` matches id, public_id and alt."""
        filters = queries.MediaFilters(resource_type=resource_type, deleted=deleted, q=q)
        rows, total = queries.list_media(services.index.conn, filters, page, page_size)
        return paged(request, rows, total, page, page_size, MediaPage)

    @post("/", status_code=HTTP_201_CREATED, guards=[cloudinary_configured], request_max_body_size=None,
          operation_class=UploadOperation, opt=documented(409, 413, 415, 422, 502, creates=True))
    async def upload(self, request: Request[Any, Any, Any], services: Opened,
                     caller: NamedDependency[User]) -> Response[MediaWriteOut]:
        """Upload an image or video to Cloudinary and commit its record (multipart: `file`, `alt`, `id`).

        The type comes from the file's bytes (SVG is refused: 415), sizes are capped (413), images need
        alt text (422); a Cloudinary failure is a 502 and nothing is committed.
        """
        setup = services.media
        with Spool(setup.limits) as spool:
            fields = await uploads.receive(request, spool, UPLOAD_FIELDS)
            received = spool.finish()
            written = await sync_to_thread(media.upload, services.workspace, setup.cloud(), setup.limits, received,
                                           fields.get("alt"), fields.get("id") or None, identity(caller),
                                           caller.username)
        return answer(services, written, HTTP_201_CREATED)

    @patch("/{media_id:str}", sync_to_thread=True, opt=documented(404, 409, 502, if_match=True))
    def update(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
               media_id: MediaId,
               data: JSONBody[dict[str, Any]]) -> Response[MediaWriteOut]:
        """Change a record's alt text: `{"alt": "..."}` (needs If-Match)."""
        written = media.update(services.workspace, media_id, data, if_match(request), identity(caller))
        return answer(services, written)

    @post("/{media_id:str}/soft-delete", status_code=HTTP_200_OK, sync_to_thread=True,
          opt=documented(404, 409, 412, 502))
    def soft_delete(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
                    media_id: MediaId,
                    force: Force = False) -> Response[MediaWriteOut]:
        """Mark a record deleted, so the public no longer sees it; 409 with the files that still use it."""
        written = media.soft_delete(services.workspace, media_id, optional_if_match(request), identity(caller),
                                    forced(caller, force))
        return answer(services, written)

    @post("/{media_id:str}/restore", status_code=HTTP_200_OK, sync_to_thread=True, opt=documented(404, 409, 412, 502))
    def restore(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
                media_id: MediaId) -> Response[MediaWriteOut]:
        """Undo a soft delete."""
        written = media.restore(services.workspace, media_id, optional_if_match(request), identity(caller))
        return answer(services, written)

    @delete("/{media_id:str}", status_code=HTTP_200_OK, guards=[cloudinary_configured], sync_to_thread=True,
            opt=documented(404, 409, 502, if_match=True))
    def remove(self, request: Request[Any, Any, Any], services: Opened, caller: NamedDependency[User],
               media_id: MediaId,
               force: Force = False) -> Response[MediaWriteOut]:
        """Delete the asset at Cloudinary and its record (needs If-Match); 409 with the files that still use it."""
        setup = services.media
        written = media.destroy(services.workspace, setup.cloud(), media_id, if_match(request), identity(caller),
                                forced(caller, force))
        return answer(services, written)
