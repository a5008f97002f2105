"""The AI step: the real google-genai SDK against a local fake Gemini, drafts committed on their own branches.

Gemini is a pytest-httpserver answering `…/models/gemini-test:generateContent`,
reached through the SDK's own `GOOGLE_GEMINI_BASE_URL`; nothing in the code
under test is patched. Each test queues the fake's answers (the last one
repeats) and reads back the requests the SDK sent. The content is the test
site in a real git repository; every test checks what git shows afterwards:
the draft branch and its one commit, or nothing at all, and a checkout, HEAD,
index and working tree exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from litestar.testing import TestClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cms import ai
from cms.accounts import NewUser, Role, StateDB, UserStore, users
from cms.ai import DraftRequest, RetryPolicy, clean_answer
from cms.cli import main
from cms.content.models import Lesson
from cms.content.parse import parse_bytes
from cms.content.sources import classify
from cms.errors import Conflict, ContentError, InvalidInput, NotConfigured, NotFound, UpstreamError
from cms.index.build import update
from cms.index.rendering import render
from cms.repo.commits import Identity
from cms.settings import Settings
from cms.write.operations import Workspace
from tests.conftest import git, started_app

MODEL = "gemini-test"
KEY = "test-gemini-key"
FAST = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05, timeout=5)
AUTHOR = Identity(name="Ada Author", email="ada@example.com")
COURSE = "intro-to-testing"
NEW = DraftRequest(course=COURSE, section="practice", title="Testing with fixtures",
                   brief="Show pytest fixtures: tmp_path, monkeypatch and a fixture of your own.")
BRANCH = "drafts/intro-to-testing/testing-with-fixtures"
NEW_PATH = "content/courses/intro-to-testing/02-practice/03-testing-with-fixtures.md"
PARAGRAPH = ("A fixture gives every test a fresh, known world to run in, so that one test never leans on "
             "what another left behind. ")


def lesson_markdown(extra: str = "") -> str:
    """A lesson body of about 500 words, as a model would write it."""
    return ("## Why fixtures\n\n" + PARAGRAPH * 20 + "\n\n## Your own fixture\n\n" + PARAGRAPH * 10
            + "\n\n```python\nimport pytest\n\n@pytest.fixture\ndef numbers():\n    return [1, 2, 3]\n```\n"
            + extra)


def answer(text: str, finish: str = "STOP") -> tuple[int, dict[str, Any]]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish,
                                 "index": 0}
    return 200, {"candidates": [candidate], "modelVersion": MODEL,
                 "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 10, "totalTokenCount": 20}}


def failure(status: int, name: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": status, "message": f"fake {name}", "status": name}}


GOOD = answer(lesson_markdown())


class FakeGemini:
    """A local Gemini: queued answers (the last one repeats), every request kept."""

    def __init__(self, server: HTTPServer) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        path = re.compile(rf"^/v1(beta)?/models/{MODEL}:generateContent$")
        server.expect_request(path, method="POST").respond_with_handler(self._answer)

    def will(self, *answers: tuple[int, dict[str, Any]]) -> FakeGemini:
        self.answers = list(answers)
        return self

    def _answer(self, request: Request) -> Response:
        self.requests.append({"path": request.path, "headers": dict(request.headers), "json": request.get_json(),
                              "at": time.monotonic()})
        time.sleep(self.delay)
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return Response(json.dumps(body), status=status, content_type="application/json",
                        headers={"Retry-After": "1"} if status == 429 else {})

    @property
    def prompts(self) -> list[str]:
        return [request["json"]["contents"][0]["parts"][0]["text"] for request in self.requests]


@pytest.fixture
def fake(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    """The fake Gemini, found by the SDK through GOOGLE_GEMINI_BASE_URL."""
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", httpserver.url_for("/"))
    return FakeGemini(httpserver)


def generator(policy: RetryPolicy = FAST) -> ai.Gemini:
    return ai.gemini(Settings.from_env({"GEMINI_API_KEY": KEY, "GEMINI_MODEL": MODEL}), policy)


def snapshot(repo: Path) -> dict[str, Any]:
    """Everything a draft must leave alone: refs, HEAD, checkout, git's index, status and the files on disk."""
    files = {p.relative_to(repo).as_posix(): p.read_bytes() for p in sorted(repo.rglob("*"))
             if p.is_file() and not p.relative_to(repo).as_posix().startswith((".git/", ".cms/"))}
    return {"refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
            "head": git(repo, "rev-parse", "HEAD"), "branch": git(repo, "symbolic-ref", "HEAD"),
            "index": git(repo, "ls-files", "--stage"), "status": git(repo, "status", "--porcelain",
                                                                      "--untracked-files=all"),
            "commits": git(repo, "rev-list", "--all", "--count"), "files": files}


def assert_untouched(repo: Path, before: dict[str, Any], *new_branches: str) -> None:
    """Nothing changed but the new draft branches, one commit each."""
    after = snapshot(repo)
    refs = after["refs"].splitlines()
    for branch in new_branches:
        assert [ref for ref in refs if ref.startswith(f"refs/heads/{branch} ")], refs
    after["refs"] = "\n".join(ref for ref in refs if ref.split(" ")[0] not in
                              {f"refs/heads/{branch}" for branch in new_branches})
    after["commits"] = str(int(after["commits"]) - len(new_branches))
    assert after == before


def file_on(repo: Path, branch: str, path: str) -> str:
    return git(repo, "show", f"{branch}:{path}") + "\n"


def lesson_on(repo: Path, branch: str, path: str) -> tuple[Lesson, str]:
    source = classify(path.removeprefix("content/"))
    document = parse_bytes(source, file_on(repo, branch, path).encode(), path)  # type: ignore[arg-type]
    assert document.ok, document.problems
    return document.entry, document.body


# --------------------------------------------------------------------------
# A good answer
# --------------------------------------------------------------------------


def test_a_good_answer_becomes_one_draft_commit_on_its_own_branch(space: Workspace, fake: FakeGemini) -> None:
    repo = space.tree.repo_root
    fake.will(GOOD)
    before = snapshot(repo)
    done = ai.draft(space, NEW, AUTHOR, generator())

    assert (done.branch, done.path, done.lesson) == (BRANCH, NEW_PATH, "testing-with-fixtures")
    assert done.base == before["head"] and not done.pushed
    assert git(repo, "rev-parse", BRANCH) == done.commit
    assert git(repo, "rev-list", "--parents", "-n", "1", done.commit).split() == [done.commit, before["head"]]
    assert git(repo, "diff", "--name-status", before["head"], done.commit) == f"A\t{NEW_PATH}"
    assert git(repo, "log", "-1", "--format=%an|%ae|%cn|%ce", done.commit) == \
        "Ada Author|ada@example.com|Ada Author|ada@example.com"
    assert_untouched(repo, before, BRANCH)

    lesson, body = lesson_on(repo, BRANCH, NEW_PATH)
    assert lesson.title == "Testing with fixtures" and lesson.status == "draft"
    assert lesson.ai is not None and lesson.ai.model == MODEL
    assert lesson.ai.prompt_sha256 == hashlib.sha256(fake.prompts[0].encode()).hexdigest()
    assert abs(lesson.ai.generated_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert body == lesson_markdown()


def test_the_request_is_what_the_sdk_sends_with_a_prompt_scoped_by_the_index(space: Workspace,
                                                                             fake: FakeGemini) -> None:
    fake.will(GOOD)
    ai.draft(space, NEW, AUTHOR, generator())
    (request,) = fake.requests
    assert re.fullmatch(rf"/v1(beta)?/models/{MODEL}:generateContent", request["path"])
    assert request["headers"]["X-Goog-Api-Key"] == KEY
    prompt = fake.prompts[0]
    assert "Title: Intro to Testing" in prompt and "Why and how to write automated tests." in prompt
    assert "A first course on automated testing." in prompt                    # the course's long description
    outline = prompt.split("# Course outline", 1)[1].split("# The lesson to write", 1)[0]
    assert [line.strip() for line in outline.strip().splitlines()[2:]] == [
        "1. Basics: What a test is.", "1.1 Why test", "1.2 Your first test",
        "2. Practice", "2.1 Cheat sheet", "2.2 Check yourself", "→ 2.3 Testing with fixtures"]
    assert 'Comes after: "Check yourself"' in prompt and "It is the last lesson of the course." in prompt
    scope = prompt.split("# Out of scope", 1)[1].split("# Brief", 1)[0]
    for other in ('"Why test" (objectives: Say what a regression is)', '"Your first test"', '"Cheat sheet"',
                  '"Check yourself"'):
        assert f"- {other}" in scope
    assert "Testing with fixtures" not in scope
    assert NEW.brief in prompt
    assert "roughly 900–1,400 words" in prompt and "no YAML front matter" in prompt and "Markdown" in prompt


def test_the_lesson_is_numbered_next_in_its_section_and_its_slug_is_unique_in_the_course(
        space: Workspace, fake: FakeGemini) -> None:
    fake.will(GOOD)
    done = ai.draft(space, DraftRequest(course=COURSE, section="basics", title="Why test?"), AUTHOR,
                          generator())
    assert done.path == "content/courses/intro-to-testing/01-basics/03-why-test-2.md"
    assert done.branch == "drafts/intro-to-testing/why-test-2"


# --------------------------------------------------------------------------
# Unusable answers and failing calls leave nothing behind
# --------------------------------------------------------------------------

UNUSABLE = {
    "truncated": (answer(lesson_markdown()[:800], "MAX_TOKENS"), "ai-truncated"),
    "safety": ((200, {"candidates": [{"finishReason": "SAFETY", "index": 0,
                                      "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                                                         "probability": "HIGH", "blocked": True}]}]}),
               "ai-blocked"),
    "prompt-blocked": ((200, {"promptFeedback": {"blockReason": "SAFETY"}}), "ai-blocked"),
    "recitation": (answer(lesson_markdown(), "RECITATION"), "ai-blocked"),
    "empty": (answer(""), "ai-empty"),
    "blank": (answer("  \n\n  "), "ai-empty"),
    "only-a-fence": (answer("```markdown\n\n```"), "ai-empty"),
    "no-candidates": ((200, {"candidates": []}), "ai-empty"),
    "too-short": (answer("## Fixtures\n\nThey help."), "ai-too-short"),
    "no-finish-reason": ((200, {"candidates": [{"content": {"parts": [{"text": lesson_markdown()}]}}]}),
                         "ai-blocked"),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_an_unusable_answer_is_a_clear_error_and_leaves_nothing_behind(space: Workspace, fake: FakeGemini,
                                                                       case: str) -> None:
    reply, reason = UNUSABLE[case]
    fake.will(reply)
    before = snapshot(space.tree.repo_root)
    with pytest.raises(UpstreamError) as caught:
        ai.draft(space, NEW, AUTHOR, generator())
    assert caught.value.reason == reason and caught.value.status == 502
    assert "nothing was written" in caught.value.message
    assert len(fake.requests) == 1
    assert_untouched(space.tree.repo_root, before)


def test_a_429_is_retried_and_the_next_answer_is_used(space: Workspace, fake: FakeGemini) -> None:
    fake.will(failure(429, "RESOURCE_EXHAUSTED"), GOOD)
    done = ai.draft(space, NEW, AUTHOR, generator())
    assert len(fake.requests) == 2 and fake.prompts[0] == fake.prompts[1]
    assert git(space.tree.repo_root, "rev-parse", BRANCH) == done.commit


def test_persistent_5xx_fails_after_the_bounded_attempts_in_bounded_time(space: Workspace, fake: FakeGemini) -> None:
    fake.will(failure(503, "UNAVAILABLE"))
    before = snapshot(space.tree.repo_root)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        ai.draft(space, NEW, AUTHOR, generator())
    assert time.monotonic() - started < 5
    assert caught.value.reason == "ai-unavailable" and "after 3 attempts" in caught.value.message
    assert len(fake.requests) == FAST.attempts          # ours only: the SDK's own retries are off
    assert_untouched(space.tree.repo_root, before)


def test_a_refused_request_is_not_retried(space: Workspace, fake: FakeGemini) -> None:
    fake.will(failure(403, "PERMISSION_DENIED"))
    with pytest.raises(UpstreamError) as caught:
        ai.draft(space, NEW, AUTHOR, generator())
    assert caught.value.reason == "ai-refused" and "GEMINI_API_KEY" in caught.value.message
    assert len(fake.requests) == 1


def test_a_slow_answer_times_out(space: Workspace, fake: FakeGemini) -> None:
    fake.will(GOOD)
    fake.delay = 3
    before = snapshot(space.tree.repo_root)
    with pytest.raises(UpstreamError) as caught:
        ai.draft(space, NEW, AUTHOR, generator(RetryPolicy(attempts=2, initial_delay=0.01, timeout=0.3)))
    assert caught.value.reason == "ai-timeout"
    # from the first request on: two attempts of 0.3 s, never an answer's 3 s (room for a busy machine)
    assert time.monotonic() - fake.requests[0]["at"] < 2.5
    assert_untouched(space.tree.repo_root, before)


def test_an_answer_that_does_not_validate_leaves_nothing_behind(space: Workspace, fake: FakeGemini) -> None:
    fake.will(answer(lesson_markdown("\nSee [the setup](../01-basics/09-missing.md).\n")))
    before = snapshot(space.tree.repo_root)
    with pytest.raises(ContentError) as caught:
        ai.draft(space, NEW, AUTHOR, generator())
    assert [problem.rule for problem in caught.value.problems] == ["broken-link"]
    assert_untouched(space.tree.repo_root, before)


# --------------------------------------------------------------------------
# What the model writes
# --------------------------------------------------------------------------

HOSTILE = """
<script>alert('body')</script>

[click me](javascript:alert(1)) and [again](JaVaScRiPt:alert(2)) and <a href="javascript:alert(3)">raw</a>

<img src=x onerror="alert(4)">

<iframe src="https://evil.example/"></iframe>

![pixel](javascript:alert(5))

<div onmouseover="alert(6)">hover</div>
"""


def test_hostile_output_is_written_as_is_but_renders_inert(space: Workspace, fake: FakeGemini) -> None:
    fake.will(answer(lesson_markdown(HOSTILE)))
    done = ai.draft(space, NEW, AUTHOR, generator())
    _, body = lesson_on(space.tree.repo_root, done.branch, done.path)
    assert "<script>alert('body')</script>" in body                 # kept for the reviewer to see
    html = render(body).html
    assert not re.search(r"<\s*(script|iframe|img|div|object|embed)", html, re.IGNORECASE)
    assert not re.search(r"<[^>]*\son\w+\s*=", html, re.IGNORECASE)
    assert not re.search(r"<[^>]*\s(href|src)\s*=\s*\"?\s*javascript:", html, re.IGNORECASE)
    assert "&lt;a href=&quot;javascript" in html or '&lt;a href="javascript' in html   # shown as text
    assert "&lt;script&gt;" in html


def test_a_wrapping_fence_and_front_matter_are_stripped(space: Workspace, fake: FakeGemini) -> None:
    wrapped = f"```markdown\n---\ntitle: Something else\nstatus: published\n---\n{lesson_markdown()}```"
    fake.will(answer(wrapped))
    done = ai.draft(space, NEW, AUTHOR, generator())
    text = file_on(space.tree.repo_root, done.branch, done.path)
    assert text.count("\n---\n") == 1 and "Something else" not in text
    lesson, body = lesson_on(space.tree.repo_root, done.branch, done.path)
    assert lesson.status == "draft" and lesson.title == "Testing with fixtures"
    assert body == lesson_markdown()


@pytest.mark.parametrize(("raw", "clean"), [
    ("```markdown\n## A\n\ntext\n```", "## A\n\ntext\n"),
    ("```md\n## A\n```\n", "## A\n"),
    ("```\n# A\n\n```python\nx = 1\n```\n```", "# A\n\n```python\nx = 1\n```\n"),
    ("~~~markdown\n## A\n~~~", "## A\n"),
    ("---\ntitle: T\n---\n\n## A\n", "## A\n"),
    ("+++\ntitle = 'T'\n+++\n## A", "## A\n"),
    ("---\ntitle: T\n---\n```markdown\n## A\n```", "## A\n"),
    ("```python\nx = 1\n```", "```python\nx = 1\n```\n"),                # a code block is not a wrapper
    ("```\nplain code\n```", "```\nplain code\n```\n"),
    ("## A\n\n---\n\n## B\n", "## A\n\n---\n\n## B\n"),                     # a rule in the middle stays
    ("\r\n## A\r\n", "## A\n"),
    ("   ", ""),
])
def test_clean_answer(raw: str, clean: str) -> None:
    assert clean_answer(raw) == clean


# --------------------------------------------------------------------------
# Branches, remotes, regeneration, requests
# --------------------------------------------------------------------------


def test_an_existing_draft_branch_is_a_409_and_gemini_is_not_asked(space: Workspace, fake: FakeGemini) -> None:
    repo = space.tree.repo_root
    git(repo, "branch", BRANCH)
    fake.will(GOOD)
    before = snapshot(repo)
    with pytest.raises(Conflict) as caught:
        ai.draft(space, NEW, AUTHOR, generator())
    assert caught.value.status == 409 and caught.value.reason == "draft-exists"
    assert fake.requests == []
    assert_untouched(repo, before)


def test_the_same_draft_twice_is_a_409(space: Workspace, fake: FakeGemini) -> None:
    fake.will(GOOD)
    first = ai.draft(space, NEW, AUTHOR, generator())
    with pytest.raises(Conflict):
        ai.draft(space, NEW, AUTHOR, generator())
    assert git(space.tree.repo_root, "rev-parse", BRANCH) == first.commit


def test_the_draft_branch_is_pushed_when_a_remote_is_configured(space: Workspace, fake: FakeGemini) -> None:
    repo = space.tree.repo_root
    bare = repo.parent / "remote.git"
    git(repo.parent, "init", "--quiet", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "--quiet", "--set-upstream", "origin", "main")
    fake.will(GOOD)
    done = ai.draft(Workspace(tree=space.tree, db_path=space.db_path, push=True), NEW, AUTHOR, generator())
    assert done.pushed
    assert git(bare, "rev-parse", f"refs/heads/{BRANCH}") == done.commit
    assert git(bare, "rev-parse", "refs/heads/main") == done.base
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"


def test_a_refused_push_takes_the_local_branch_back(space: Workspace, fake: FakeGemini) -> None:
    repo = space.tree.repo_root
    bare = repo.parent / "remote.git"
    git(repo.parent, "init", "--quiet", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    theirs = git(repo, "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "Someone else's draft")
    git(repo, "push", "--quiet", "origin", f"{theirs}:refs/heads/{BRANCH}")   # a branch of that name, diverged
    fake.will(GOOD)
    before = snapshot(repo)
    with pytest.raises(Conflict) as caught:
        ai.draft(Workspace(tree=space.tree, db_path=space.db_path, push=True), NEW, AUTHOR, generator())
    assert caught.value.reason == "push-rejected"
    assert_untouched(repo, before)


def test_without_push_the_remote_is_left_alone(space: Workspace, fake: FakeGemini) -> None:
    repo = space.tree.repo_root
    bare = repo.parent / "remote.git"
    git(repo.parent, "init", "--quiet", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    fake.will(GOOD)
    assert not ai.draft(space, NEW, AUTHOR, generator()).pushed
    assert git(bare, "for-each-ref") == ""


def test_regenerating_a_lesson_replaces_its_body_on_a_branch(space: Workspace, fake: FakeGemini) -> None:
    repo = space.tree.repo_root
    path = "content/courses/intro-to-testing/01-basics/01-why-test.md"
    fake.will(GOOD)
    before = snapshot(repo)
    done = ai.draft(space, DraftRequest(course=COURSE, lesson="why-test", brief="More on regressions."),
                          AUTHOR, generator())
    assert (done.branch, done.path, done.lesson) == ("drafts/intro-to-testing/why-test", path, "why-test")
    assert git(repo, "diff", "--name-status", before["head"], done.commit) == f"M\t{path}"
    assert_untouched(repo, before, done.branch)
    lesson, body = lesson_on(repo, done.branch, path)
    assert (lesson.title, lesson.type, lesson.duration_minutes) == ("Why test", "text", 5)
    assert lesson.objectives == ["Say what a regression is"] and lesson.status == "draft"
    assert lesson.ai is not None and lesson.ai.prompt_sha256 == hashlib.sha256(fake.prompts[0].encode()).hexdigest()
    assert body == lesson_markdown()
    prompt = fake.prompts[0]
    assert "Objective: Say what a regression is" in prompt and "More on regressions." in prompt
    assert "It is the first lesson of the course." in prompt and 'Comes before: "Your first test"' in prompt
    assert '"Why test"' not in prompt.split("# Out of scope", 1)[1]
    assert "→ 1.1 Why test" in prompt


def test_regenerating_replaces_earlier_provenance_and_publication(space: Workspace, fake: FakeGemini) -> None:
    repo = space.tree.repo_root
    lesson_file = repo / "content/courses/intro-to-testing/01-basics/01-why-test.md"
    reviewed = "ai:\n  model: old-model\n  prompt_sha256: " + "a" * 64 + \
        "\n  generated_at: 2024-01-01T00:00:00Z\n  reviewed_by: grace\nstatus: published\n"
    lesson_file.write_text(lesson_file.read_text().replace("---\n## Regressions", reviewed + "---\n## Regressions"))
    git(repo, "commit", "--quiet", "-am", "Reviewed")
    update(space.tree, space.db_path)
    fake.will(GOOD)
    done = ai.draft(space, DraftRequest(course=COURSE, lesson="why-test"), AUTHOR, generator())
    lesson, _ = lesson_on(repo, done.branch, done.path)
    assert lesson.status == "draft" and lesson.ai is not None
    assert (lesson.ai.model, lesson.ai.reviewed_by) == (MODEL, None)


@pytest.mark.parametrize(("request_", "error", "field"), [
    (DraftRequest(course=COURSE, title="No section"), InvalidInput, "section"),
    (DraftRequest(course=COURSE, section="basics"), InvalidInput, "title"),
    (DraftRequest(course=COURSE, section="basics", title="   "), InvalidInput, "title"),
    (DraftRequest(course=COURSE, lesson="why-test", title="Both"), InvalidInput, "title"),
    (DraftRequest(course="Not A Slug", section="basics", title="T"), InvalidInput, "course"),
    (DraftRequest(course=COURSE, section="basics", title="T", brief="x" * 5000), InvalidInput, "brief"),
    (DraftRequest(course="no-such-course", section="basics", title="T"), NotFound, None),
    (DraftRequest(course=COURSE, section="no-such-section", title="T"), NotFound, None),
    (DraftRequest(course=COURSE, lesson="no-such-lesson"), NotFound, None),
])
def test_a_bad_request_is_refused_before_gemini_is_asked(space: Workspace, fake: FakeGemini, request_: DraftRequest,
                                                         error: type[Exception], field: str | None) -> None:
    fake.will(GOOD)
    before = snapshot(space.tree.repo_root)
    with pytest.raises(error) as caught:
        ai.draft(space, request_, AUTHOR, generator())
    if field is not None:
        assert field in caught.value.fields  # type: ignore[attr-defined]
    assert fake.requests == []
    assert_untouched(space.tree.repo_root, before)


def test_a_lesson_only_on_disk_is_not_drafted_against(space: Workspace, fake: FakeGemini) -> None:
    """Order and slug avoid uncommitted lessons too, so the draft merges cleanly later."""
    repo = space.tree.repo_root
    (repo / "content/courses/intro-to-testing/02-practice/03-testing-with-fixtures.md").write_text(
        "---\ntitle: Mine\n---\nUncommitted.\n")
    fake.will(GOOD)
    done = ai.draft(space, NEW, AUTHOR, generator())
    assert done.path == "content/courses/intro-to-testing/02-practice/04-testing-with-fixtures-2.md"


def test_without_an_api_key_drafting_is_not_configured() -> None:
    with pytest.raises(NotConfigured) as caught:
        ai.gemini(Settings.from_env({}))
    assert caught.value.status == 503 and "GEMINI_API_KEY" in caught.value.message


# --------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------

SECRET = "a-test-secret-key-long-enough-for-hs256-0123456789"
PASSWORD = "password-for-tests-1"


@contextmanager
def api(site: Path, tmp_path: Path, quota: int = 5,
        **env: str) -> Iterator[tuple[TestClient[Any], dict[str, str]]]:
    """The app with the admin API on, Gemini configured (and the settings `env`), and a bearer token per role."""
    state = tmp_path / "state" / "state.db"
    db = StateDB(state)
    for role in Role:
        UserStore(db).create(NewUser(username=role.value.lower(), email=f"{role.value.lower()}@example.com",
                                     password=PASSWORD, role=role, full_name=f"{role.value.title()} Person"))
    db.close()
    settings = Settings.from_env({"CMS_CONTENT_DIR": str(site / "content"), "CMS_SECRET_KEY": SECRET,
                                  "CMS_STATE_URL": f"sqlite:///{state}", "GEMINI_API_KEY": KEY,
                                  "GEMINI_MODEL": MODEL, "CMS_AI_DAILY_QUOTA": str(quota), **env})
    with TestClient(started_app(settings), base_url="https://testserver.local") as client:
        tokens = {}
        for role in Role:
            response = client.post("/api/v1/auth/login", json={"username": role.value.lower(), "password": PASSWORD})
            assert response.status_code == 200, response.text
            tokens[role.value] = response.json()["access_token"]
        yield client, tokens


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


DRAFT_BODY = {"course": COURSE, "section": "practice", "title": "Testing with fixtures", "brief": "Fixtures."}


def test_api_staff_get_201_with_branch_path_and_commit(site: Path, tmp_path: Path, fake: FakeGemini,
                                                       cheap_hashing: None) -> None:
    fake.will(GOOD)
    before = snapshot(site)
    with api(site, tmp_path) as (client, tokens):
        response = client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=bearer(tokens["ADMIN"]))
        assert response.status_code == 201, response.text
        answer = response.json()
        preview = answer.pop("preview_url")
        assert answer == {"branch": BRANCH, "path": NEW_PATH, "commit": git(site, "rev-parse", BRANCH),
                          "lesson": "testing-with-fixtures", "pull_request_url": None}
        assert preview.startswith("https://testserver.local/preview/courses/intro-to-testing/lessons/"
                                  f"testing-with-fixtures?ref={BRANCH}&preview=")
        assert response.headers["cache-control"] == "no-store"
        assert git(site, "log", "-1", "--format=%an|%ae", BRANCH) == "Admin Person|admin@example.com"
        regenerated = client.post("/api/v1/ai/drafts", json={"course": COURSE, "lesson": "why-test"},
                                  headers=bearer(tokens["MODERATOR"]))
        assert regenerated.status_code == 201, regenerated.text
        assert regenerated.json()["branch"] == "drafts/intro-to-testing/why-test"
        served = client.get("/api/v1/courses/intro-to-testing/lessons", headers=bearer(tokens["ADMIN"]))
        assert served.status_code == 200 and "testing-with-fixtures" not in served.text  # main serves no draft
    assert_untouched(site, before, BRANCH, "drafts/intro-to-testing/why-test")


def test_api_needs_a_staff_token(site: Path, tmp_path: Path, fake: FakeGemini, cheap_hashing: None) -> None:
    fake.will(GOOD)
    with api(site, tmp_path) as (client, tokens):
        assert client.post("/api/v1/ai/drafts", json=DRAFT_BODY).status_code == 401
        assert client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=bearer(tokens["USER"])).status_code == 403
    assert fake.requests == []
    assert git(site, "branch", "--list", "drafts/*") == ""


def test_api_refuses_bad_bodies_and_existing_branches(site: Path, tmp_path: Path, fake: FakeGemini,
                                                      cheap_hashing: None) -> None:
    fake.will(GOOD)
    git(site, "branch", BRANCH)
    with api(site, tmp_path) as (client, tokens):
        headers = bearer(tokens["ADMIN"])
        unknown = client.post("/api/v1/ai/drafts", json={**DRAFT_BODY, "status": "published"}, headers=headers)
        assert unknown.status_code == 400
        missing = client.post("/api/v1/ai/drafts", json={"course": COURSE, "section": "practice"}, headers=headers)
        assert missing.status_code == 422 and missing.json()["errors"][0]["key"] == "title"
        exists = client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=headers)
        assert exists.status_code == 409 and exists.json()["type"] == "urn:coursebase:problem:draft-exists"
    assert fake.requests == []


def test_api_daily_quota_is_a_429(site: Path, tmp_path: Path, fake: FakeGemini, cheap_hashing: None) -> None:
    fake.will(GOOD)
    with api(site, tmp_path, quota=1) as (client, tokens):
        first = client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=bearer(tokens["ADMIN"]))
        assert first.status_code == 201, first.text
        second = client.post("/api/v1/ai/drafts", json={**DRAFT_BODY, "title": "Another"},
                             headers=bearer(tokens["ADMIN"]))
        assert second.status_code == 429 and 0 < int(second.headers["retry-after"]) <= 86400
        assert "00:00 UTC" in second.json()["detail"]
        other = client.post("/api/v1/ai/drafts", json={**DRAFT_BODY, "title": "Another"},
                            headers=bearer(tokens["MODERATOR"]))
        assert other.status_code == 201, other.text                       # the allowance is per user
    assert len(fake.requests) == 2


def test_api_unusable_answer_is_a_502_problem(site: Path, tmp_path: Path, fake: FakeGemini,
                                               cheap_hashing: None) -> None:
    fake.will(answer("cut", "MAX_TOKENS"))
    with api(site, tmp_path) as (client, tokens):
        response = client.post("/api/v1/ai/drafts", json=DRAFT_BODY, headers=bearer(tokens["ADMIN"]))
    assert response.status_code == 502
    assert response.json()["type"] == "urn:coursebase:problem:ai-truncated"
    assert git(site, "branch", "--list", "drafts/*") == ""


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------


@pytest.fixture
def cli_env(site: Path, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CMS_CONTENT_DIR", str(site / "content"))
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_MODEL", MODEL)
    git(site, "config", "user.name", "Cli Author")
    git(site, "config", "user.email", "cli@example.com")
    return site


def test_cli_drafts_a_lesson(cli_env: Path, fake: FakeGemini) -> None:
    fake.will(GOOD)
    before = snapshot(cli_env)
    result = CliRunner().invoke(main, ["ai", "draft", "--course", COURSE, "--section", "practice", "--title",
                                       "Testing with fixtures", "--brief", "Fixtures."], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"drafted {NEW_PATH} on branch {BRANCH}" in result.output and f"git switch {BRANCH}" in result.output
    assert git(cli_env, "log", "-1", "--format=%an|%ae", BRANCH) == "Cli Author|cli@example.com"
    assert "Fixtures." in fake.prompts[0]
    assert_untouched(cli_env, before, BRANCH)


def test_cli_regenerates_a_lesson_as_json(cli_env: Path, fake: FakeGemini) -> None:
    fake.will(GOOD)
    result = CliRunner().invoke(main, ["ai", "draft", "--course", COURSE, "--lesson", "why-test", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    done = json.loads(result.output)
    assert done["branch"] == "drafts/intro-to-testing/why-test" and done["lesson"] == "why-test"
    assert done["commit"] == git(cli_env, "rev-parse", "drafts/intro-to-testing/why-test")


@pytest.mark.parametrize(("args", "reply", "message"), [
    (["--section", "practice", "--title", "T"], answer("cut", "MAX_TOKENS"), "cut off"),
    (["--title", "T"], GOOD, "section: is required"),
    (["--lesson", "why-test", "--section", "basics"], GOOD, "section: leave it out"),
])
def test_cli_errors_exit_2_with_the_reason(cli_env: Path, fake: FakeGemini, args: list[str],
                                           reply: tuple[int, dict[str, Any]], message: str) -> None:
    fake.will(reply)
    result = CliRunner().invoke(main, ["ai", "draft", "--course", COURSE, *args], catch_exceptions=False)
    assert result.exit_code == 2 and message in result.output
    assert git(cli_env, "branch", "--list", "drafts/*") == ""


def test_cli_without_an_api_key_names_the_setting(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    result = CliRunner().invoke(main, ["ai", "draft", "--course", COURSE, "--section", "practice", "--title", "T"],
                                catch_exceptions=False)
    assert result.exit_code == 2 and "GEMINI_API_KEY" in result.output
