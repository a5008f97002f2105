"""`POST /hooks/git`: a signed push notification pulls the repository and re-indexes it.

With several servers (CMS_STATE_URL on Postgres), the server that takes the webhook announces the new
head on the state database as soon as its clone has it, and every other server follows it
(`cms.delivery.follower`): the forge needs to reach only one of them, through the load balancer.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import post
from litestar.exceptions import NotAuthorizedException, ServiceUnavailableException
from litestar.params import HeaderParameter, RawBody
from litestar.status_codes import HTTP_200_OK

from api.deps import Opened
from api.spec import documented
from cms.database import PostgresUrl, is_postgres
from cms.delivery import follower
from cms.repo.remote import signature_valid
from cms.write import pull


class PullOut(msgspec.Struct):
    commit: str | None
    files_read: int


Signature = Annotated[str | None, HeaderParameter(
    name="X-Hub-Signature-256",
    description="`sha256=<hex>`: the HMAC-SHA256 of the body with CMS_WEBHOOK_SECRET, as GitHub sends it.")]


@post("/hooks/git", status_code=HTTP_200_OK, sync_to_thread=True, tags=["hooks"],
      opt=documented(409, 502, 503, tokenless=True))
def receive_push(services: Opened, body: RawBody, signature: Signature = None) -> PullOut:
    """Pull the content repository and re-index it; needs `X-Hub-Signature-256` (HMAC-SHA256, CMS_WEBHOOK_SECRET)."""
    secret = services.settings.webhook_secret
    if secret is None:
        raise ServiceUnavailableException("the webhook is disabled: set CMS_WEBHOOK_SECRET")
    if not signature_valid(secret, body, signature):
        raise NotAuthorizedException("the X-Hub-Signature-256 header does not sign this body")
    if is_postgres(services.settings.state_url):  # one of several servers: the others follow this one
        commit, files_read = follower.pull(services.workspace, PostgresUrl(str(services.settings.state_url),
                                                                           "CMS_STATE_URL"))
        return PullOut(commit=commit, files_read=files_read)
    pulled = pull(services.workspace)
    return PullOut(commit=pulled.commit, files_read=pulled.files_read)
