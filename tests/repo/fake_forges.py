"""Local fake forges for tests: GitHub, GitLab or Gitea on 127.0.0.1, standard library only.

One class, `FakeForge(kind)`, serves the endpoints `cms.repo.forge` calls, as each real forge lays them out:

    GitHub   POST/GET {prefix}/repos/{owner}/{repo}/pulls           prefix /api/v3 (Enterprise) or "" (api.github.com)
    GitLab   POST/GET /api/v4/projects/{url-encoded path}/merge_requests
    Gitea    POST/GET {sub-path}/api/v1/repos/{owner}/{repo}/pulls

It answers like the real one: 201 with the pull request's shape; the forge's own "already exists" (GitHub
422 with `errors`, GitLab 409 with a `message` list, Gitea 409); 401 for a missing or wrong token in the
forge's own header form; 404 for another repository; and whatever it is told to fail with (`fail`),
slowly (`delay`) or with a redirect (`redirect`). Every request is kept in `requests`, raw path included.

It is stricter than a real forge where that catches a client mistake a real one would hide: a missing
`Accept`, API version or JSON content type, or a field the forge does not know (GitHub would silently drop
a misspelt `descripton`), is a 400 naming what is wrong.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

TOKEN = "fake-forge-token-3f9a2c"
GITHUB_VERSION = "2022-11-28"
Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Recorded:
    """One request as it arrived: the raw path (percent-escapes kept), the query, the headers (lower-case
    names) and the JSON body (None without one)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@dataclass
class FakePull:
    number: int
    head: str
    base: str
    title: str
    body: str
    state: str = "open"


@dataclass
class _Failure:
    status: int
    message: str | None
    echo_credentials: bool
    location: str | None = None


@dataclass
class FakeForge:
    """A fake `kind` forge ("github", "gitlab" or "gitea") holding one repository with some branches."""

    kind: str
    token: str = TOKEN
    repository: str = "owner/repo"
    api_prefix: str | None = None
    """GitHub's API prefix: `/api/v3` as on GitHub Enterprise (the default), or "" as on api.github.com."""
    sub_path: str = ""
    """A Gitea served under a sub-path (`/git`): the web and API addresses both start with it."""
    branches: set[str] = field(default_factory=lambda: {"main"})
    delay: float = 0.0
    requests: list[Recorded] = field(default_factory=list)
    pulls: list[FakePull] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list, init=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False)

    # -- control -----------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[FakeForge]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self._server = server
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)

    @property
    def origin(self) -> str:
        assert self._server is not None, "start it with `with fake.running():`"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The repository's web address: what CMS_FORGE_URL names."""
        return f"{self.origin}{self.sub_path}/{self.repository}"

    @property
    def api_url(self) -> str:
        """Where the API is: what `forge.configure` derives from `url` (or is told with CMS_FORGE_API_URL)."""
        prefix = {"github": "/api/v3" if self.api_prefix is None else self.api_prefix, "gitlab": "/api/v4",
                  "gitea": f"{self.sub_path}/api/v1"}[self.kind]
        return f"{self.origin}{prefix}"

    def fail(self, status: int, message: str | None = None, *, times: int = 1, echo_credentials: bool = False) -> None:
        """Answer the next `times` requests with `status` (the forge's error shape); `echo_credentials` puts
        the credential header it received in the message, as a careless proxy might."""
        self._failures += [_Failure(status, message, echo_credentials) for _ in range(times)]

    def redirect(self, status: int, location: str) -> None:
        self._failures.append(_Failure(status, "Moved", False, location))

    def open_pull(self, head: str, base: str = "main", title: str = "Already open") -> FakePull:
        self.branches |= {head, base}
        pull = FakePull(number=len(self.pulls) + 1, head=head, base=base, title=title, body="")
        self.pulls.append(pull)
        return pull

    def web_url(self, pull: FakePull) -> str:
        tail = {"github": f"pull/{pull.number}", "gitlab": f"-/merge_requests/{pull.number}",
                "gitea": f"pulls/{pull.number}"}[self.kind]
        return f"{self.url}/{tail}"

    # -- serving -----------------------------------------------------------

    def answer(self, recorded: Recorded) -> Answer:
        self.requests.append(recorded)
        time.sleep(self.delay)
        if self._failures:
            return self._failed(self._failures.pop(0), recorded)
        refusal = self._unauthorized(recorded.headers)
        if refusal is not None:
            return self._error(401, refusal)
        route = {"github": self._github, "gitlab": self._gitlab, "gitea": self._gitea}[self.kind]
        return route(recorded)

    def _failed(self, failure: _Failure, recorded: Recorded) -> Answer:
        message = failure.message or _DEFAULT_MESSAGES.get(failure.status, "Error")
        if failure.echo_credentials:
            credential = recorded.headers.get("authorization") or recorded.headers.get("private-token")
            message = f"{message}: rejected credentials {credential!r}"
        status, body, headers = self._error(failure.status, message)
        return status, body, {**headers, **({"Location": failure.location} if failure.location else {})}

    def _unauthorized(self, headers: dict[str, str]) -> str | None:
        expected = {"github": f"Bearer {self.token}", "gitea": f"token {self.token}"}
        if self.kind == "gitlab":
            token = headers.get("private-token") or headers.get("authorization", "").removeprefix("Bearer ")
            return None if token == self.token else "401 Unauthorized"
        given = headers.get("authorization")
        if given == expected[self.kind]:
            return None
        missing = {"github": "Requires authentication", "gitea": "token is required"}
        wrong = {"github": "Bad credentials", "gitea": "user does not exist [uid: 0, name: ]"}
        return (missing if given is None else wrong)[self.kind]

    def _error(self, status: int, message: Any) -> Answer:
        if self.kind == "github":
            return status, {"message": message, "documentation_url": "https://docs.github.com/rest",
                            "status": str(status)}, {}
        if self.kind == "gitea":
            return status, {"message": message, "url": f"{self.origin}{self.sub_path}/api/swagger"}, {}
        return status, {"message": message}, {}

    def _strict(self, recorded: Recorded, headers: dict[str, str], fields: set[str], required: set[str],
                error: int) -> Answer | None:
        """400 for a header the fake insists on; `error` (the forge's validation status) for bad fields."""
        wanted = {**headers, **({"content-type": "application/json"} if recorded.method == "POST" else {})}
        for name, value in wanted.items():
            if recorded.headers.get(name, "").split(";")[0].strip() != value:
                return self._error(400, f"fake {self.kind}: expected header {name}: {value}")
        if recorded.method != "POST":
            return None
        if not isinstance(recorded.json, dict):
            return self._error(400, "Problems parsing JSON")
        unknown = sorted(set(recorded.json) - fields)
        if unknown:
            return self._error(400, f"fake {self.kind}: unexpected field {', '.join(unknown)}")
        missing = sorted(name for name in required if not isinstance(recorded.json.get(name), str))
        return self._missing(missing, error) if missing else None

    def _missing(self, missing: list[str], error: int) -> Answer:
        if self.kind == "gitlab":
            return 400, {"error": ", ".join(f"{name} is missing" for name in missing)}, {}
        if self.kind == "gitea":
            return self._error(error, ", ".join(f"[{name.title()}]: Required" for name in missing))
        return error, {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": name,
                                                                  "code": "missing_field"} for name in missing]}, {}

    def _open(self, head: str, base: str) -> FakePull | None:
        return next((p for p in self.pulls if (p.head, p.base, p.state) == (head, base, "open")), None)

    def _created(self, head: str, base: str, title: str, body: str) -> FakePull:
        pull = FakePull(number=len(self.pulls) + 1, head=head, base=base, title=title, body=body)
        self.pulls.append(pull)
        return pull

    # -- GitHub ------------------------------------------------------------

    def _github(self, recorded: Recorded) -> Answer:
        prefix = "/api/v3" if self.api_prefix is None else self.api_prefix
        if recorded.path != f"{prefix}/repos/{self.repository}/pulls":
            return self._error(404, "Not Found")
        headers = {"accept": "application/vnd.github+json", "x-github-api-version": GITHUB_VERSION}
        refusal = self._strict(recorded, headers, {"title", "head", "base", "body", "draft", "maintainer_can_modify"},
                               {"title", "head", "base"}, 422)
        if refusal is not None:
            return refusal
        if recorded.method == "GET":
            return self._github_list(recorded.query)
        return self._github_create(recorded.json)

    def _github_create(self, fields: dict[str, Any]) -> Answer:
        head, base = fields["head"], fields["base"]
        owner = self.repository.split("/")[0]
        invalid = [name for name in ("head", "base") if fields[name] not in self.branches]
        if invalid:
            return 422, {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": name,
                                                                     "code": "invalid"} for name in invalid]}, {}
        if self._open(head, base) is not None:
            return 422, {"message": "Validation Failed", "errors": [{
                "resource": "PullRequest", "code": "custom",
                "message": f"A pull request already exists for {owner}:{head}."}],
                "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                "status": "422"}, {}
        return 201, self._github_shape(self._created(head, base, fields["title"], fields.get("body") or "")), {}

    def _github_list(self, query: dict[str, str]) -> Answer:
        owner = self.repository.split("/")[0]
        head = query.get("head")
        if head is not None and not head.startswith(f"{owner}:"):
            return 200, [], {}
        pulls = [p for p in self.pulls if query.get("state", "open") in ("all", p.state)
                 and (head is None or f"{owner}:{p.head}" == head) and query.get("base", p.base) == p.base]
        return 200, [self._github_shape(pull) for pull in pulls], {}

    def _github_shape(self, pull: FakePull) -> dict[str, Any]:
        owner = self.repository.split("/")[0]
        return {"number": pull.number, "html_url": self.web_url(pull), "state": pull.state, "title": pull.title,
                "body": pull.body, "draft": False, "head": {"ref": pull.head, "label": f"{owner}:{pull.head}"},
                "base": {"ref": pull.base, "label": f"{owner}:{pull.base}"},
                "url": f"{self.api_url}/repos/{self.repository}/pulls/{pull.number}"}

    # -- GitLab ------------------------------------------------------------

    def _gitlab(self, recorded: Recorded) -> Answer:
        parts = recorded.path.split("/")
        if len(parts) != 6 or parts[:4] != ["", "api", "v4", "projects"] or parts[5] != "merge_requests":
            return 404, {"error": "404 Not Found"}, {}
        if parts[4] != quote(self.repository, safe=""):
            return self._error(404, "404 Project Not Found")
        refusal = self._strict(recorded, {}, {"source_branch", "target_branch", "title", "description",
                                              "remove_source_branch", "squash", "labels"},
                               {"source_branch", "target_branch", "title"}, 400)
        if refusal is not None:
            return refusal
        if recorded.method == "GET":
            return self._gitlab_list(recorded.query)
        return self._gitlab_create(recorded.json)

    def _gitlab_create(self, fields: dict[str, Any]) -> Answer:
        head, base = fields["source_branch"], fields["target_branch"]
        missing = [f'{name.title()} branch "{branch}" does not exist'
                   for name, branch in (("source", head), ("target", base)) if branch not in self.branches]
        if missing:
            return self._error(422, missing)
        existing = self._open(head, base)
        if existing is not None:
            return self._error(409, [f"Another open merge request already exists for this source branch: "
                                     f"!{existing.number}"])
        pull = self._created(head, base, fields["title"], fields.get("description") or "")
        return 201, self._gitlab_shape(pull), {}

    def _gitlab_list(self, query: dict[str, str]) -> Answer:
        state = {"opened": "open", "all": None}.get(query.get("state", "all"), query.get("state"))
        pulls = [p for p in self.pulls if state in (None, p.state) and query.get("source_branch", p.head) == p.head
                 and query.get("target_branch", p.base) == p.base]
        return 200, [self._gitlab_shape(pull) for pull in pulls], {}

    def _gitlab_shape(self, pull: FakePull) -> dict[str, Any]:
        return {"id": 1000 + pull.number, "iid": pull.number, "project_id": 7, "title": pull.title,
                "description": pull.body, "state": "opened" if pull.state == "open" else pull.state,
                "source_branch": pull.head, "target_branch": pull.base, "web_url": self.web_url(pull)}

    # -- Gitea -------------------------------------------------------------

    def _gitea(self, recorded: Recorded) -> Answer:
        if recorded.path != f"{self.sub_path}/api/v1/repos/{self.repository}/pulls":
            return self._error(404, "not found")
        refusal = self._strict(recorded, {}, {"head", "base", "title", "body", "assignee", "assignees", "labels",
                                              "milestone", "due_date", "reviewers", "team_reviewers"},
                               {"head", "base", "title"}, 422)
        if refusal is not None:
            return refusal
        if recorded.method == "GET":
            return self._gitea_list(recorded.query)
        return self._gitea_create(recorded.json)

    def _gitea_create(self, fields: dict[str, Any]) -> Answer:
        head, base = fields["head"], fields["base"]
        if head not in self.branches or base not in self.branches:
            return self._error(404, f"branch {head if head not in self.branches else base} does not exist")
        existing = self._open(head, base)
        if existing is not None:
            return self._error(409, f"pull request already exists for these targets [id: {existing.number}, "
                                    f"issue_id: {existing.number}, head_repo_id: 1, base_repo_id: 1, "
                                    f"head_branch: {head}, base_branch: {base}]")
        return 201, self._gitea_shape(self._created(head, base, fields["title"], fields.get("body") or "")), {}

    def _gitea_list(self, query: dict[str, str]) -> Answer:
        page, limit = int(query.get("page", "1")), int(query.get("limit", "30"))
        pulls = [p for p in self.pulls if query.get("state", "open") in ("all", p.state)
                 and query.get("base_branch", p.base) == p.base]
        chosen = pulls[(page - 1) * limit:page * limit]
        return 200, [self._gitea_shape(pull) for pull in chosen], {"X-Total-Count": str(len(pulls))}

    def _gitea_shape(self, pull: FakePull) -> dict[str, Any]:
        repo = {"full_name": self.repository}
        return {"id": 500 + pull.number, "number": pull.number, "html_url": self.web_url(pull), "state": pull.state,
                "title": pull.title, "body": pull.body, "head": {"ref": pull.head, "repo": repo},
                "base": {"ref": pull.base, "repo": repo}}


_DEFAULT_MESSAGES = {401: "Bad credentials", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
                     502: "Bad Gateway", 503: "Service Unavailable"}


def _handler(fake: FakeForge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            status, body, headers = fake.answer(self._recorded())
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json; charset=utf-8", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _recorded(self) -> Recorded:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            return Recorded(method=self.command, path=parts.path, query=dict(parse_qsl(parts.query)),
                            headers={name.lower(): value for name, value in self.headers.items()},
                            json=json.loads(raw) if raw else None)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
