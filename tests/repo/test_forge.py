"""`cms.repo.forge.open_pull_request` against local fake forges: real HTTP through the real client, nothing patched.

Each fake checks the requests its forge expects (path, auth header form, JSON fields) and answers as it
would (see fake_forges.py). Every test runs with httpx and httpcore logging at DEBUG, and the `no_token_logged`
fixture checks afterwards that no token reached a log record.
"""

from __future__ import annotations

import logging
import socket
import time
import traceback
from collections.abc import Iterator

import pytest

from cms.ai import pull_request as pr_body
from cms.errors import ConfigError, UpstreamError
from cms.repo import forge
from cms.repo.forge import Forge, ForgeError, ForgeKind, ForgePolicy, PullRequest
from cms.settings import Settings
from tests.repo.fake_forges import TOKEN, FakeForge

HEAD = "drafts/python/fixtures"
WRONG_TOKEN = "wrong-token-8c1d77"
FAST = ForgePolicy(attempts=3, backoff=0.0, timeout=2.0)
KINDS = ["github", "gitlab", "gitea"]


@pytest.fixture(autouse=True)
def no_token_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Everything logs at DEBUG (httpx, httpcore, forge); afterwards no token may be in any record."""
    caplog.set_level(logging.DEBUG)
    yield
    for secret in (TOKEN, WRONG_TOKEN):
        assert secret not in caplog.text


@pytest.fixture(params=KINDS)
def fake(request: pytest.FixtureRequest) -> Iterator[FakeForge]:
    with FakeForge(request.param, branches={"main", HEAD}).running() as running:
        yield running


def connect(fake: FakeForge, *, url: str | None = None, token: str = TOKEN, policy: ForgePolicy = FAST,
            api_url: str | None = None) -> Forge:
    """The forge as settings would make it: the kind is named (127.0.0.1 does not tell), the API derived."""
    return forge.configure(url or fake.url, token, fake.kind, api_url, policy)


def open_draft(target: Forge, head: str = HEAD) -> PullRequest:
    return forge.open_pull_request(target, head, "main", "Lesson draft: Fixtures", "The description")


def failure(target: Forge, head: str = HEAD) -> ForgeError:
    with pytest.raises(ForgeError) as caught:
        open_draft(target, head)
    return caught.value


def assert_token_nowhere(error: BaseException, *secrets: str) -> None:
    """Not in the text, the repr, the arguments, the attributes, the formatted traceback or the chain."""
    shown = [str(error), repr(error), repr(error.args), repr(vars(error)), "".join(traceback.format_exception(error))]
    for secret in secrets:
        assert all(secret not in text for text in shown)
    assert error.__cause__ is None and error.__context__ is None


# --------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------

CREATE = {
    "github": ("/api/v3/repos/owner/repo/pulls", {"authorization": f"Bearer {TOKEN}",
                                                  "accept": "application/vnd.github+json",
                                                  "x-github-api-version": "2022-11-28"},
               {"title": "Lesson draft: Fixtures", "head": HEAD, "base": "main", "body": "The description"}),
    "gitlab": ("/api/v4/projects/owner%2Frepo/merge_requests", {"private-token": TOKEN},
               {"source_branch": HEAD, "target_branch": "main", "title": "Lesson draft: Fixtures",
                "description": "The description"}),
    "gitea": ("/api/v1/repos/owner/repo/pulls", {"authorization": f"token {TOKEN}"},
              {"head": HEAD, "base": "main", "title": "Lesson draft: Fixtures", "body": "The description"}),
}


def test_a_pull_request_is_opened_with_the_request_the_forge_expects(fake: FakeForge,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    pull = open_draft(connect(fake))

    assert pull == PullRequest(url=fake.web_url(fake.pulls[0]), number=1, existing=False)
    [sent] = fake.requests
    path, headers, fields = CREATE[fake.kind]
    assert (sent.method, sent.path, sent.query, sent.json) == ("POST", path, {}, fields)
    assert {name: sent.headers.get(name) for name in headers} == headers
    assert sent.headers["content-type"] == "application/json"
    assert "HTTP Request: POST" in caplog.text  # httpx did log, at INFO, without the token (checked after)


def test_the_api_base_is_derived_from_the_repository_address() -> None:
    with FakeForge("github", api_prefix="", branches={"main", HEAD}).running() as github:
        pull = open_draft(connect(github, api_url=github.origin))  # as api.github.com: no /api/v3
    assert pull.number == 1 and github.requests[0].path == "/repos/owner/repo/pulls"
    with FakeForge("gitlab", repository="group/sub/project", branches={"main", HEAD}).running() as gitlab:
        open_draft(connect(gitlab))
    assert gitlab.requests[0].path == "/api/v4/projects/group%2Fsub%2Fproject/merge_requests"
    with FakeForge("gitea", sub_path="/git", branches={"main", HEAD}).running() as gitea:
        pull = open_draft(connect(gitea))
    assert gitea.requests[0].path == "/git/api/v1/repos/owner/repo/pulls"
    assert pull.url == f"{gitea.origin}/git/owner/repo/pulls/1"


def test_the_description_holds_the_provenance_the_brief_and_the_preview_link(fake: FakeForge) -> None:
    review = pr_body.DraftReview(
        course="python", lesson="fixtures", title="Fixtures @alice", path="content/courses/python/01/03-fixtures.md",
        branch=HEAD, model="gemini-2.5-flash", prompt_sha256="ab" * 32, brief="Cover yield fixtures.\nNo mocks.",
        preview_url="https://cms.example.com/preview/python/fixtures?ref=drafts/python/fixtures")

    forge.open_pull_request(connect(fake), HEAD, "main", pr_body.title(review), pr_body.body(review))

    [pull] = fake.pulls
    assert pull.title == "Lesson draft: Fixtures @\u200balice"
    for expected in ("`gemini-2.5-flash`", f"`{'ab' * 32}`", "> Cover yield fixtures.\\\n> No mocks.",
                     "(https://cms.example.com/preview/python/fixtures?ref=drafts/python/fixtures)",
                     "- [ ] Correct:"):
        assert expected in pull.body


# --------------------------------------------------------------------------
# Idempotence: an open pull request from the branch is the answer
# --------------------------------------------------------------------------

LOOKUP = {
    "github": {"head": f"owner:{HEAD}", "base": "main", "state": "open", "per_page": "50"},
    "gitlab": {"source_branch": HEAD, "target_branch": "main", "state": "opened", "per_page": "50"},
    "gitea": {"state": "open", "base_branch": "main", "page": "1", "limit": "50"},
}


def test_an_open_pull_request_for_the_branch_is_returned_instead_of_a_second(fake: FakeForge) -> None:
    fake.open_pull("drafts/python/other")
    existing = fake.open_pull(HEAD)

    pull = open_draft(connect(fake))

    assert pull == PullRequest(url=fake.web_url(existing), number=existing.number, existing=True)
    assert [(r.method, r.query) for r in fake.requests] == [("POST", {}), ("GET", LOOKUP[fake.kind])]
    assert len(fake.pulls) == 2


def test_asking_twice_gives_the_same_pull_request(fake: FakeForge) -> None:
    first = open_draft(connect(fake))
    second = open_draft(connect(fake))

    assert (second.url, second.number, second.existing) == (first.url, first.number, True)


def test_gitea_is_searched_page_by_page() -> None:
    with FakeForge("gitea").running() as gitea:
        for number in range(120):
            gitea.open_pull(f"drafts/python/lesson-{number}")
        existing = gitea.open_pull(HEAD)
        pull = open_draft(connect(gitea))
    assert pull.number == existing.number and pull.existing
    assert [r.query.get("page") for r in gitea.requests] == [None, "1", "2", "3"]


def test_a_refusal_that_shares_the_duplicate_status_is_still_an_error() -> None:
    with FakeForge("github").running() as github:
        error = failure(connect(github))  # the head branch is not on the forge: 422, and nothing is open
    assert error.forge_status == 422 and "Validation Failed; head: invalid" in error.message
    assert [r.method for r in github.requests] == ["POST", "GET"]


# --------------------------------------------------------------------------
# Errors: the forge's status and words, never the token
# --------------------------------------------------------------------------

REFUSALS: dict[tuple[str, str], tuple[int, str]] = {
    ("github", "token"): (401, "Bad credentials"),
    ("gitlab", "token"): (401, "401 Unauthorized"),
    ("gitea", "token"): (401, "user does not exist [uid: 0, name: ]"),
    ("github", "repository"): (404, "Not Found"),
    ("gitlab", "repository"): (404, "404 Project Not Found"),
    ("gitea", "repository"): (404, "not found"),
    ("github", "branch"): (422, "Validation Failed; base: invalid"),
    ("gitlab", "branch"): (422, 'Target branch "gone" does not exist'),
    ("gitea", "branch"): (404, "branch gone does not exist"),
}


@pytest.mark.parametrize(("kind", "case"), REFUSALS)
def test_a_refusal_quotes_the_forge_and_never_the_token(kind: str, case: str) -> None:
    status, words = REFUSALS[kind, case]
    with FakeForge(kind, branches={"main", HEAD}).running() as fake:
        target = connect(fake, token=WRONG_TOKEN if case == "token" else TOKEN,
                         url=f"{fake.origin}/owner/other" if case == "repository" else None)
        with pytest.raises(ForgeError) as caught:
            forge.open_pull_request(target, HEAD, "gone" if case == "branch" else "main", "Title", "Body")

    error = caught.value
    assert isinstance(error, UpstreamError) and error.status == 502 and error.reason == "forge-refused"
    assert (error.forge_status, error.forge_message) == (status, words)
    assert f"answered {status} ({words})" in error.message and "the branch is left as it is" in error.message
    assert [r.method for r in fake.requests].count("POST") == 1  # a 4xx is never retried
    assert_token_nowhere(error, TOKEN, WRONG_TOKEN)


def test_a_token_the_forge_echoes_back_is_scrubbed(fake: FakeForge) -> None:
    fake.fail(401, "Bad credentials", echo_credentials=True)

    error = failure(connect(fake))

    assert "[token]" in error.forge_message and "rejected credentials" in error.forge_message
    assert_token_nowhere(error, TOKEN)


def test_a_5xx_is_retried_a_bounded_number_of_times(fake: FakeForge) -> None:
    fake.fail(500, times=5)

    error = failure(connect(fake))

    assert (error.forge_status, error.reason) == (500, "forge-unavailable")
    assert "Internal Server Error" in error.message and "try again later" in error.message
    assert len(fake.requests) == FAST.attempts
    assert_token_nowhere(error, TOKEN)


def test_a_passing_5xx_is_retried_and_the_pull_request_opened(fake: FakeForge) -> None:
    fake.fail(502, times=2)

    assert open_draft(connect(fake)).number == 1
    assert [r.method for r in fake.requests] == ["POST"] * 3


def test_a_retried_post_finds_the_pull_request_its_lost_attempt_opened(fake: FakeForge) -> None:
    fake.fail(502)
    existing = fake.open_pull(HEAD)  # as if the first attempt had opened it before its answer was lost

    pull = open_draft(connect(fake))

    assert (pull.number, pull.existing) == (existing.number, True)


def test_an_unreachable_forge_fails_quickly_with_the_default_policy() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    target = forge.configure(f"http://127.0.0.1:{port}/owner/repo", TOKEN, "gitea")

    started = time.monotonic()
    error = failure(target)

    assert time.monotonic() - started < 3
    assert (error.forge_status, error.reason) == (None, "forge-unreachable")
    assert "ConnectError" in error.message and "after 3 attempts" in error.message
    assert_token_nowhere(error, TOKEN)


def test_a_silent_forge_times_out(fake: FakeForge) -> None:
    fake.delay = 1.0

    started = time.monotonic()
    error = failure(connect(fake, policy=ForgePolicy(attempts=2, backoff=0.0, timeout=0.2)))

    assert time.monotonic() - started < 2
    assert (error.forge_status, error.reason) == (None, "forge-timeout")
    assert "no answer within 0.2 seconds" in error.message


def test_a_redirect_is_not_followed_so_the_token_stays_home(fake: FakeForge) -> None:
    with FakeForge(fake.kind).running() as elsewhere:
        fake.redirect(307, f"{elsewhere.api_url}/moved")
        error = failure(connect(fake))
    assert error.forge_status == 307 and "set CMS_FORGE_URL to its new address" in error.message
    assert elsewhere.requests == []


def test_an_answer_of_the_wrong_shape_is_an_error(fake: FakeForge) -> None:
    fake.fail(201, "not a pull request")

    error = failure(connect(fake))

    assert (error.forge_status, error.reason) == (201, "forge-bad-answer")
    assert "check CMS_FORGE_KIND" in error.message
    assert_token_nowhere(error, TOKEN)


# --------------------------------------------------------------------------
# Configuration: kind and API base from the address
# --------------------------------------------------------------------------

ADDRESSES = [
    ("https://github.com/owner/repo", None, ForgeKind.GITHUB, "https://api.github.com", "owner/repo"),
    ("https://github.com/owner/repo.git/", None, ForgeKind.GITHUB, "https://api.github.com", "owner/repo"),
    ("https://GitHub.com/Owner/Repo", None, ForgeKind.GITHUB, "https://api.github.com", "Owner/Repo"),
    ("https://github.example.com/owner/repo", None, ForgeKind.GITHUB, "https://github.example.com/api/v3",
     "owner/repo"),
    ("https://code.corp.example/owner/repo", "github", ForgeKind.GITHUB, "https://code.corp.example/api/v3",
     "owner/repo"),
    ("https://octocorp.ghe.com/owner/repo", None, ForgeKind.GITHUB, "https://api.octocorp.ghe.com", "owner/repo"),
    ("https://gitlab.com/group/sub/repo", None, ForgeKind.GITLAB, "https://gitlab.com/api/v4", "group/sub/repo"),
    ("https://gitlab.com/group/sub/repo/-/tree/main", None, ForgeKind.GITLAB, "https://gitlab.com/api/v4",
     "group/sub/repo"),
    ("https://gitlab.example.com:8443/a/b/c/d", None, ForgeKind.GITLAB, "https://gitlab.example.com:8443/api/v4",
     "a/b/c/d"),
    ("https://git.example.com/group/repo", "GitLab", ForgeKind.GITLAB, "https://git.example.com/api/v4", "group/repo"),
    ("https://gitea.com/owner/repo", None, ForgeKind.GITEA, "https://gitea.com/api/v1", "owner/repo"),
    ("https://codeberg.org/owner/repo", None, ForgeKind.GITEA, "https://codeberg.org/api/v1", "owner/repo"),
    ("https://forgejo.example.com/owner/repo", None, ForgeKind.GITEA, "https://forgejo.example.com/api/v1",
     "owner/repo"),
    ("http://example.com/git/owner/repo", "gitea", ForgeKind.GITEA, "http://example.com/git/api/v1", "owner/repo"),
]


@pytest.mark.parametrize(("url", "kind", "expected", "api", "repository"), ADDRESSES)
def test_the_kind_and_api_base_follow_from_the_address(url: str, kind: str | None, expected: ForgeKind, api: str,
                                                       repository: str) -> None:
    made = forge.configure(url, TOKEN, kind)
    assert (made.kind, made.api_url, made.repository) == (expected, api, repository)
    assert TOKEN not in repr(made)


def test_an_explicit_api_base_wins() -> None:
    made = forge.configure("https://example.com/gitlab/group/repo", TOKEN, "gitlab", "https://example.com/gitlab/api/v4/")
    assert (made.api_url, made.repository) == ("https://example.com/gitlab/api/v4", "gitlab/group/repo")


@pytest.mark.parametrize(("url", "kind", "words"), [
    ("https://git.example.com/owner/repo", None, "cannot tell which forge git.example.com runs: set CMS_FORGE_KIND"),
    ("https://github.com/owner", None, "like https://github.com/owner/repo"),
    ("https://github.com/owner/repo/tree/main", None, "with nothing after the name"),
    ("https://user:secret@github.com/owner/repo", None, "must not hold credentials"),
    ("git@github.com:owner/repo.git", None, "expected an http(s) address"),
    ("https://github.com/owner/repo?tab=readme", None, "must not have a query"),
    ("https://example.com/owner/repo", "bitbucket", "CMS_FORGE_KIND='bitbucket' is not valid: expected one of"),
])
def test_a_bad_address_names_the_setting(url: str, kind: str | None, words: str) -> None:
    with pytest.raises(ConfigError, match="CMS_FORGE_") as caught:
        forge.configure(url, TOKEN, kind)
    assert words in caught.value.message


def test_a_malformed_token_is_refused_without_being_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        forge.configure("https://github.com/owner/repo", f"{TOKEN} extra")
    assert caught.value.message.startswith("CMS_FORGE_TOKEN is not valid") and TOKEN not in caught.value.message
    with pytest.raises(ValueError) as refused:  # httpx (h11) would quote a header value with a line break
        Forge(ForgeKind.GITLAB, "https://gitlab.com/a/b", "https://gitlab.com/api/v4", "a/b", f"{TOKEN}\nx")
    assert TOKEN not in str(refused.value)


def read(**environ: str) -> Settings:
    """The project's settings from `environ` alone (CMS_GIT_PUSH on unless it says otherwise)."""
    return Settings.from_env({"CMS_GIT_PUSH": "true", **environ})


def test_without_a_forge_the_draft_waits_on_its_branch() -> None:
    assert forge.from_settings(read()) is None


def test_settings_make_the_forge() -> None:
    made = forge.from_settings(read(CMS_FORGE_URL="https://gitlab.example.com/a/b/c", CMS_FORGE_TOKEN=f" {TOKEN}\n"))
    assert made is not None and (made.kind, made.token, made.repository) == (ForgeKind.GITLAB, TOKEN, "a/b/c")


@pytest.mark.parametrize(("environ", "words"), [
    ({"CMS_FORGE_URL": "https://github.com/o/r"}, "CMS_FORGE_URL is set but CMS_FORGE_TOKEN is not"),
    ({"CMS_FORGE_TOKEN": TOKEN}, "CMS_FORGE_TOKEN is set but CMS_FORGE_URL is not"),
    ({"CMS_FORGE_URL": "https://github.com/o/r", "CMS_FORGE_TOKEN": TOKEN}, "set CMS_GIT_PUSH=true"),
    ({"CMS_FORGE_URL": "https://github.com/o", "CMS_FORGE_TOKEN": TOKEN},
     "CMS_FORGE_URL='https://github.com/o' is not valid"),
    ({"CMS_FORGE_URL": "https://github.com/o/r", "CMS_FORGE_TOKEN": f"{TOKEN}\nsecond line"},
     "CMS_FORGE_TOKEN is not valid"),
])
def test_incomplete_settings_fail_at_start_up_without_showing_the_token(environ: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        forge.from_settings(read(**environ, CMS_GIT_PUSH="false" if "set CMS_GIT_PUSH" in words else "true"))
    assert words in caught.value.message and TOKEN not in caught.value.message
