"""The three REST APIs: each forge's auth headers, its calls, and the pull request's shape in its answers.

    GitHub   POST /repos/{owner}/{repo}/pulls             the open one: GET …/pulls?head=owner:branch&state=open
    GitLab   POST /projects/{url-encoded path}/merge_requests   the open one: GET …?source_branch=…&state=opened
    Gitea    POST /repos/{owner}/{repo}/pulls             the open one: the open pulls, page by page
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import msgspec

from cms.repo.forge.config import Forge, ForgeKind

PAGE_SIZE = 50
"""Gitea's default most items a page (`MAX_RESPONSE_ITEMS`); GitHub and GitLab allow 100."""
MAX_PAGES = 20
"""How many pages of open pull requests a Gitea look-up reads at most (1,000 pull requests)."""


@dataclass(frozen=True)
class PullRequest:
    """A pull request (merge request) as the forge numbers it; `existing` when it was open already."""

    url: str
    number: int
    existing: bool = False


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, str | int] | None = None


Item = TypeVar("Item")


class Api(Protocol[Item]):
    """One forge's REST API: its auth headers, its calls, and the pull request's shape in its answers."""

    @property
    def duplicate(self) -> int:
        """The status of "a pull request from this branch is open already" (with others that share it)."""

    @property
    def item(self) -> type[Item]: ...
    @property
    def items(self) -> type[list[Item]]: ...

    def headers(self, token: str) -> dict[str, str]: ...
    def create(self, forge: Forge, head: str, base: str, title: str, body: str) -> Call: ...
    def lookups(self, forge: Forge, head: str, base: str) -> Iterator[Call]: ...
    def matches(self, item: Item, head: str, base: str) -> bool: ...
    def pull(self, item: Item, existing: bool = False) -> PullRequest: ...


class _Ref(msgspec.Struct):
    ref: str


class _GitHubPull(msgspec.Struct):
    number: int
    html_url: str
    head: _Ref
    base: _Ref
    state: str = "open"


class _GitHub:
    """`POST /repos/{owner}/{repo}/pulls`; the open one: `GET …/pulls?head=owner:branch&base=…&state=open`."""

    duplicate = 422
    item = _GitHubPull
    items = list[_GitHubPull]

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28"}

    def create(self, forge: Forge, head: str, base: str, title: str, body: str) -> Call:
        return Call("POST", _path(forge, "pulls"), json={"title": title, "head": head, "base": base, "body": body})

    def lookups(self, forge: Forge, head: str, base: str) -> Iterator[Call]:
        owner = forge.repository.split("/")[0]
        yield Call("GET", _path(forge, "pulls"),
                    params={"head": f"{owner}:{head}", "base": base, "state": "open", "per_page": PAGE_SIZE})

    def matches(self, item: _GitHubPull, head: str, base: str) -> bool:
        return (item.head.ref, item.base.ref, item.state) == (head, base, "open")

    def pull(self, item: _GitHubPull, existing: bool = False) -> PullRequest:
        return PullRequest(url=item.html_url, number=item.number, existing=existing)


class _GitLabMerge(msgspec.Struct):
    iid: int
    web_url: str
    source_branch: str
    target_branch: str
    state: str = "opened"


class _GitLab:
    """`POST /projects/{url-encoded path}/merge_requests`; the open one: `GET …?source_branch=…&state=opened`."""

    duplicate = 409
    item = _GitLabMerge
    items = list[_GitLabMerge]

    def headers(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token}

    def create(self, forge: Forge, head: str, base: str, title: str, body: str) -> Call:
        return Call("POST", self._merge_requests(forge),
                     json={"source_branch": head, "target_branch": base, "title": title, "description": body})

    def lookups(self, forge: Forge, head: str, base: str) -> Iterator[Call]:
        yield Call("GET", self._merge_requests(forge),
                    params={"source_branch": head, "target_branch": base, "state": "opened", "per_page": PAGE_SIZE})

    def matches(self, item: _GitLabMerge, head: str, base: str) -> bool:
        return (item.source_branch, item.target_branch, item.state) == (head, base, "opened")

    def pull(self, item: _GitLabMerge, existing: bool = False) -> PullRequest:
        return PullRequest(url=item.web_url, number=item.iid, existing=existing)

    @staticmethod
    def _merge_requests(forge: Forge) -> str:
        return f"projects/{quote(forge.repository, safe='')}/merge_requests"


class _GiteaRepo(msgspec.Struct):
    full_name: str


class _GiteaRef(msgspec.Struct):
    ref: str
    repo: _GiteaRepo | None = None


class _GiteaPull(msgspec.Struct):
    number: int
    html_url: str
    head: _GiteaRef
    base: _GiteaRef
    state: str = "open"


class _Gitea:
    """`POST /repos/{owner}/{repo}/pulls`; the open one: the open pulls, page by page, filtered here (the
    `base_branch` filter is newer than some servers, which ignore it)."""

    duplicate = 409
    item = _GiteaPull
    items = list[_GiteaPull]

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}"}

    def create(self, forge: Forge, head: str, base: str, title: str, body: str) -> Call:
        return Call("POST", _path(forge, "pulls"), json={"head": head, "base": base, "title": title, "body": body})

    def lookups(self, forge: Forge, head: str, base: str) -> Iterator[Call]:
        for page in range(1, MAX_PAGES + 1):
            yield Call("GET", _path(forge, "pulls"),
                        params={"state": "open", "base_branch": base, "page": page, "limit": PAGE_SIZE})

    def matches(self, item: _GiteaPull, head: str, base: str) -> bool:
        same_repository = item.head.repo is None or item.base.repo is None or \
            item.head.repo.full_name.lower() == item.base.repo.full_name.lower()
        return (item.head.ref, item.base.ref, item.state) == (head, base, "open") and same_repository

    def pull(self, item: _GiteaPull, existing: bool = False) -> PullRequest:
        return PullRequest(url=item.html_url, number=item.number, existing=existing)


def _path(forge: Forge, tail: str) -> str:
    return f"repos/{quote(forge.repository, safe='/')}/{tail}"


APIS: Mapping[ForgeKind, Api[Any]] = {ForgeKind.GITHUB: _GitHub(), ForgeKind.GITLAB: _GitLab(),
                                      ForgeKind.GITEA: _Gitea()}
