"""Opening a pull request for a pushed branch, with one bounded retry policy and errors that never hold the token.

    pushed branch → open_pull_request(forge, head, base, title, body)
        → POST the forge's "create" endpoint        GitHub, Gitea: pull request; GitLab: merge request
        → 201: its web address and number
        → "one is open already" (GitHub 422, GitLab and Gitea 409): the open one from `head` into `base`,
          looked up, so asking twice gives the same pull request
        → anything else: `ForgeError` (502), quoting the forge's status and its own message

The token goes in one header and nowhere else: never in a URL, a log line or an error. Redirects are not
followed (GitLab's `PRIVATE-TOKEN` header would follow one to another host), any text the forge sends
back is scrubbed of the token before it is quoted, and errors are raised outside `except` blocks, so no
httpx exception (whose request holds the headers) hangs on their chain. 5xx answers and network failures
are tried again (`ForgePolicy`); 4xx answers never are. Retrying a POST is safe because of the look-up:
if the first attempt did open the pull request, the next one finds it.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from cms.errors import UpstreamError
from cms.repo.forge.apis import APIS, Api, Call, PullRequest
from cms.repo.forge.config import Forge, ForgeKind

log = logging.getLogger(__name__)

USER_AGENT = "coursebase"
RETRY_STATUSES = frozenset({500, 502, 503, 504})
MESSAGE_MAX = 300

T = TypeVar("T")


class ForgeError(UpstreamError):
    """The forge refused or failed (502). `forge_status` is its HTTP status (None when no answer came) and
    `forge_message` its own words; neither ever holds the token."""

    reason = "forge-failed"

    def __init__(self, message: str, *, forge_status: int | None, forge_message: str, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.forge_status = forge_status
        self.forge_message = forge_message


def open_pull_request(forge: Forge, head: str, base: str, title: str, body: str) -> PullRequest:
    """Open a pull request (GitLab: merge request) from the branch `head` into `base`; if one is open
    already, that one. The branch itself is never touched; a refusal or failure is a `ForgeError`."""
    api = APIS[forge.kind]
    with _client(forge, api) as client:
        answer = _send(client, forge, api.create(forge, head, base, title, body))
        if answer.status_code == api.duplicate:
            existing = _open_one(client, forge, api, head, base)
            if existing is not None:
                log.info("%s pull request %s was open already for %s", forge.kind.label, existing.url, head)
                return existing
        pull = api.pull(_decoded(_checked(answer, forge, head), api.item, forge))
    log.info("opened %s pull request %s for %s", forge.kind.label, pull.url, head)
    return pull


def _client(forge: Forge, api: Api[Any]) -> httpx.Client:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **api.headers(forge.token)}
    return httpx.Client(base_url=forge.api_url, headers=headers, timeout=forge.policy.timeout,
                        follow_redirects=False)


def _open_one(client: httpx.Client, forge: Forge, api: Api[Any], head: str, base: str) -> PullRequest | None:
    """The open pull request from `head` into `base`, page by page (the filters do most of the work)."""
    for call in api.lookups(forge, head, base):
        items = _decoded(_checked(_send(client, forge, call), forge, head), api.items, forge)
        match = next((item for item in items if api.matches(item, head, base)), None)
        if match is not None:
            return api.pull(match, existing=True)
        if not items:
            break
    return None


def _send(client: httpx.Client, forge: Forge, call: Call) -> httpx.Response:
    """The forge's answer to `call`, after up to `policy.attempts` tries when it fails with 5xx or no answer."""
    policy = forge.policy
    failure: ForgeError | None = None
    for attempt in range(1, policy.attempts + 1):
        try:
            answer = client.request(call.method, call.path, json=call.json, params=call.params)
        except httpx.TimeoutException:
            failure = _no_answer(forge, f"no answer within {policy.timeout:g} seconds", "forge-timeout")
        except httpx.TransportError as error:
            failure = _no_answer(forge, f"{type(error).__name__}: {error}", "forge-unreachable")
        else:
            if answer.status_code not in RETRY_STATUSES or attempt == policy.attempts:
                return answer
            failure = None
        if attempt < policy.attempts:
            log.warning("%s %s %s failed (attempt %d of %d); trying again", forge.kind.label, call.method,
                        call.path, attempt, policy.attempts)
            time.sleep(policy.backoff * 2 ** (attempt - 1))
    assert failure is not None
    raise failure  # outside the except blocks: no httpx exception (holding the request) on its chain


def _checked(answer: httpx.Response, forge: Forge, head: str) -> httpx.Response:
    if answer.is_success:
        return answer
    words = _forge_words(answer, forge.token)
    status = answer.status_code
    raise ForgeError(f"{forge.kind.label} answered {status} ({words}) when asked to open a pull request for "
                     f"{head}; the branch is left as it is: {_hint(forge, status)}",
                     forge_status=status, forge_message=words,
                     reason="forge-unavailable" if status >= 500 else "forge-refused")


def _no_answer(forge: Forge, what: str, reason: str) -> ForgeError:
    words = _scrub(what, forge.token)
    return ForgeError(f"{forge.kind.label} at {forge.api_url} could not be reached ({words}) after "
                      f"{forge.policy.attempts} attempts: check CMS_FORGE_URL (and CMS_FORGE_API_URL) and the "
                      "network, or try again later", forge_status=None, forge_message=words, reason=reason)


def _decoded(answer: httpx.Response, shape: type[T], forge: Forge) -> T:
    try:
        return msgspec.json.decode(answer.content, type=shape)
    except msgspec.DecodeError as error:
        words = _scrub(str(error), forge.token)
    raise ForgeError(f"{forge.kind.label}'s answer ({answer.status_code}) is not what its API returns ({words}): "
                     "check CMS_FORGE_KIND and CMS_FORGE_API_URL", forge_status=answer.status_code,
                     forge_message=words, reason="forge-bad-answer")


def _hint(forge: Forge, status: int) -> str:
    if status in (301, 302, 303, 307, 308):
        return "the repository moved (redirects are not followed): set CMS_FORGE_URL to its new address"
    if status == 401:
        return "check CMS_FORGE_TOKEN (expired or revoked?)"
    if status == 403:
        return f"the token may not open pull requests there: it needs {_SCOPES[forge.kind]}"
    if status == 404:
        return f"check CMS_FORGE_URL ({forge.web_url}) and that the token can see that repository"
    if status >= 500:
        return "try again later"
    return "open it by hand, or fix what the forge names and draft again"


_SCOPES = {ForgeKind.GITHUB: "`pull_requests: write`", ForgeKind.GITLAB: "the `api` scope and the Developer role",
           ForgeKind.GITEA: "`write:repository`"}


def _forge_words(answer: httpx.Response, token: str) -> str:
    """The forge's own message, scrubbed, on one line: `message` (a string, or GitLab's list or field map),
    `error`, `error_description`, GitHub's `errors`."""
    try:
        payload = answer.json()
    except ValueError:
        payload = None
    words = _words(payload) if payload is not None else []
    if not words and "html" not in answer.headers.get("content-type", ""):
        words = [answer.text]
    text = " ".join(_scrub("; ".join(dict.fromkeys(word.strip() for word in words if word.strip())), token).split())
    text = text or answer.reason_phrase or "no message"
    return text if len(text) <= MESSAGE_MAX else text[:MESSAGE_MAX - 1] + "…"


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [word for item in value for word in _words(item)]
    if not isinstance(value, dict):
        return []
    known = [value[key] for key in ("message", "error", "error_description", "errors") if key in value]
    if known:
        return [word for item in known for word in _words(item)]
    if "code" in value:
        return [f"{value.get('field') or value.get('resource') or 'request'}: {value['code']}"]
    return [f"{key} {' '.join(_words(item))}" for key, item in value.items()]


def _scrub(text: str, token: str) -> str:
    for secret in {token, quote(token, safe="")}:
        text = text.replace(secret, "[token]")
    return text
