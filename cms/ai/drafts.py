"""The AI step: Gemini drafts a lesson, and the draft waits on its own branch for a person.

    request → where the lesson goes (HEAD) → prompt (from the index) → Gemini → answer checked
            → lesson file (status: draft, `ai` provenance) → validated → one commit on drafts/<course>/<lesson>
            → pushed (with CMS_GIT_PUSH and a remote)

The commit is made with git plumbing (`hash-object`, a temporary index,
`commit-tree`, `update-ref`), so the checked-out branch, HEAD, git's index
and the working tree stay exactly as they were. Nothing is published or
merged here: an author reviews the branch, sets `status: published` and
merges it. Any failure, an unusable answer included, leaves no file, no
branch and no commit behind.

Gemini sits behind a small seam, `Generate`: a callable taking the prompt
and returning the lesson text, with the `model` it asks. `gemini()` makes
the real one from settings: the google-genai SDK (its async client), which
reads `GOOGLE_GEMINI_BASE_URL` itself, so tests point the real client at a
local fake server. There is one retry policy, ours (`RetryPolicy`): the
SDK's own retries are switched off (one attempt per call).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import importlib
import os
import random
import re
import subprocess
import tempfile
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec

from cms.content.corpus import ContentTree
from cms.content.frontmatter import dump_markdown, load_markdown
from cms.content.models import SLUG_MAX
from cms.content.parse import Document
from cms.content.sources import Kind, Source, classify, is_ignored, slug_problem
from cms.content.validate import check
from cms.errors import Conflict, ContentError, InvalidInput, NotConfigured, NotFound, UpstreamError
from cms.index.build import stored_corpus, update
from cms.index.rendering import render
from cms.problems import Problem
from cms.read import queries
from cms.repo import remote
from cms.repo.repository import GitRepo, Identity
from cms.settings import Settings
from cms.write.operations import Workspace

if TYPE_CHECKING:
    from google.genai import types

__all__ = ["MIN_WORDS", "Draft", "DraftRequest", "Gemini", "Generate", "RetryPolicy", "answer_text",
           "build_prompt", "clean_answer", "draft", "gemini", "lesson_text", "slug_from_title", "usable_body"]

WORD_RANGE = "900–1,400"
MIN_WORDS = 300
"""An answer with fewer words than this (as the renderer counts them) is not a lesson: refused."""
MAX_BRIEF = 4000
MAX_OUTPUT_TOKENS = 16384
"""Room for the lesson and the model's thinking; a longer answer is cut off and refused."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
COURSE_TEXT_MAX = 2000
"""How much of the course's long description goes into the prompt."""

T = TypeVar("T")


class Generate(Protocol):
    """The seam in front of Gemini: the prompt in, the lesson's markdown out (or an `UpstreamError`)."""

    model: str

    def __call__(self, prompt: str) -> str: ...


class DraftRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A new lesson (`section` and `title`), or `lesson` to regenerate an existing one; `brief` is optional."""

    course: str
    section: str | None = None
    title: str | None = None
    brief: str | None = None
    lesson: str | None = None


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """What the AI step made: the branch, the lesson file on it (repository-relative) and the commit."""

    branch: str
    path: str
    commit: str
    lesson: str
    base: str
    pushed: bool


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """Where the drafted lesson goes, and the front matter it keeps (a regenerated lesson keeps its own)."""

    course: str
    section: str
    slug: str
    path: str
    title: str
    fields: dict[str, Any]
    existing: bool


class OutlineLesson(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title: str
    section: str
    description: str | None = None
    objectives: list[str] = []


class OutlineSection(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title: str
    description: str | None = None


class Outline(msgspec.Struct, frozen=True, kw_only=True):
    """What the index knows about a course: enough to scope a lesson."""

    title: str
    description: str | None
    about: str
    sections: list[OutlineSection]
    lessons: list[OutlineLesson]


# --------------------------------------------------------------------------
# The draft, end to end
# --------------------------------------------------------------------------


def draft(space: Workspace, request: DraftRequest, author: Identity, generate: Generate,
          charge: Callable[[], None] | None = None) -> Draft:
    """Ask `generate` for a lesson and commit it, as a draft, on a new branch `drafts/<course>/<lesson>`.

    `charge` runs once the request is known to be good, just before Gemini is asked (a quota, say);
    if it raises, nothing is asked and nothing is written.
    """
    _check_request(request)
    repo = GitRepo.open(space.tree.content_dir)
    base = _base(repo)
    update(space.tree, space.db_path)
    target = _target(repo, space.tree, request)
    branch = f"drafts/{target.course}/{target.slug}"
    if _branch_exists(repo, branch):
        raise _draft_exists(branch)
    prompt = build_prompt(_outline(space.db_path, target.course), target, request.brief)
    if charge is not None:
        charge()
    body = usable_body(generate(prompt))
    text = lesson_text(target, body, generate.model, prompt)
    _validate(space.tree, space.db_path, target.path, text)
    path = space.tree.label(target.path)
    commit = _commit_on_branch(repo, branch, base, path, text, _message(target, generate.model), author)
    pushed = space.push and _push(repo, branch, commit)
    return Draft(branch=branch, path=path, commit=commit, lesson=target.slug, base=base, pushed=pushed)


def _check_request(request: DraftRequest) -> None:
    """Every rule the request breaks, at once (422), before anything is asked of git or Gemini."""
    problems: dict[str, str] = {}
    for field in ("course", "section", "lesson"):
        value = getattr(request, field)
        if value is not None and slug_problem(value, "(request)", field) is not None:
            problems[field] = "must be a slug (lowercase a-z and 0-9 words joined by single hyphens)"
    if request.lesson is not None:
        problems.update({field: "leave it out when regenerating an existing lesson"
                         for field in ("section", "title") if getattr(request, field) is not None})
    else:
        problems.update({field: "is required for a new lesson (or give `lesson` to regenerate one)"
                         for field in ("section", "title") if getattr(request, field) is None})
    if request.title is not None and not 1 <= len(request.title.strip()) <= 255:
        problems["title"] = "must be 1 to 255 characters"
    if request.brief is not None and len(request.brief) > MAX_BRIEF:
        problems["brief"] = f"must be at most {MAX_BRIEF} characters"
    if problems:
        raise InvalidInput(problems)


def _base(repo: GitRepo) -> str:
    head = repo.head()
    if head is None:
        raise Conflict("the content repository has no commits yet: commit the content first", reason="no-commits")
    return head


# --------------------------------------------------------------------------
# Where the lesson goes: decided from HEAD, the commit the branch starts from
# --------------------------------------------------------------------------


def _target(repo: GitRepo, tree: ContentTree, request: DraftRequest) -> Target:
    at_head = _sources_at_head(repo, tree, request.course)
    if not any(source.kind is Kind.COURSE for source in at_head):
        raise NotFound(f"no course {request.course!r} in the last commit")
    if request.lesson is not None:
        return _existing_target(repo, tree, at_head, request.course, request.lesson)
    assert request.section is not None and request.title is not None
    return _new_target(tree, at_head, request.course, request.section, request.title.strip())


def _new_target(tree: ContentTree, at_head: list[Source], course: str, section: str, title: str) -> Target:
    """The next lesson of the section; order and slug clash with nothing committed or on disk."""
    folder = next((s.section_dir for s in at_head if s.kind is Kind.SECTION and s.slug == section), None)
    if folder is None:
        raise NotFound(f"course {course!r} has no section {section!r} in the last commit")
    lessons = [s for s in [*at_head, *_sources_on_disk(tree, course)] if s.kind is Kind.LESSON]
    order = max((s.order or 0 for s in lessons if s.section_dir == folder), default=0) + 1
    slug = _unique(slug_from_title(title), {s.slug for s in lessons})
    return Target(course=course, section=section, slug=slug, path=f"{folder}/{str(order).zfill(2)}-{slug}.md",
                  title=title, fields={"title": title}, existing=False)


def _existing_target(repo: GitRepo, tree: ContentTree, at_head: list[Source], course: str, lesson: str) -> Target:
    """The lesson as HEAD has it: same path, same front matter (the body is what gets replaced)."""
    source = next((s for s in at_head if s.kind is Kind.LESSON and s.slug == lesson), None)
    if source is None:
        raise NotFound(f"course {course!r} has no lesson {lesson!r} in the last commit")
    label = tree.label(source.path)
    loaded = load_markdown(_git_bytes(repo, "cat-file", "blob", f"HEAD:{label}"), label)
    title = loaded.data.get("title") if isinstance(loaded.data, dict) else None
    if not isinstance(title, str) or loaded.problems:
        raise ContentError(f"{label} cannot be regenerated until its front matter is fixed", loaded.problems)
    return Target(course=course, section=source.section or "", slug=lesson, path=source.path, title=title,
                  fields=dict(loaded.data), existing=True)


def _sources_at_head(repo: GitRepo, tree: ContentTree, course: str) -> list[Source]:
    listing = _git(repo, "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", f"{tree.prefix}courses/{course}/")
    paths = [path.removeprefix(tree.prefix) for path in listing.split("\0") if path]
    return _sources(paths)


def _sources_on_disk(tree: ContentTree, course: str) -> list[Source]:
    folder = tree.content_dir / "courses" / course
    paths = [p.relative_to(tree.content_dir).as_posix() for p in folder.rglob("*.md")] if folder.is_dir() else []
    return _sources(paths)


def _sources(paths: list[str]) -> list[Source]:
    found = (classify(path) for path in paths if not is_ignored(path))
    return [source for source in found if isinstance(source, Source)]


def slug_from_title(title: str) -> str:
    """A lesson slug from its title: ASCII words joined by hyphens, with room left for a `-2` suffix."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = ""
    for word in re.findall(r"[a-z0-9]+", text):
        candidate = f"{slug}-{word}" if slug else word[:SLUG_MAX - 4]
        if len(candidate) > SLUG_MAX - 4:
            break
        slug = candidate
    return slug or "lesson"


def _unique(slug: str, taken: set[str]) -> str:
    number = 2
    candidate = slug
    while candidate in taken:
        candidate = f"{slug}-{number}"
        number += 1
    return candidate


# --------------------------------------------------------------------------
# The prompt: scoped by what the index knows about the course
# --------------------------------------------------------------------------


def _outline(db_path: Path, course: str) -> Outline:
    conn = queries.connect(db_path)
    try:
        row = queries.course_text(conn, course)
        if row is None:
            raise NotFound(f"course {course!r} is not in the index: run `cms validate` and fix its problems")
        sections = queries.sections_of(conn, course, hidden=True)
        lessons = queries.lesson_outline(conn, course)
    finally:
        conn.close()
    return Outline(title=row["title"], description=row["description"], about=(row["markdown"] or "").strip(),
                   sections=[msgspec.convert(s, OutlineSection, strict=False) for s in sections],
                   lessons=[msgspec.convert(lesson, OutlineLesson, strict=False) for lesson in lessons])


def build_prompt(outline: Outline, target: Target, brief: str | None) -> str:
    """The whole prompt, exactly as sent (its SHA-256 goes into the lesson's provenance)."""
    lessons = _placed(outline, target)
    parts = [
        "You are an experienced instructor writing one lesson of an online course. Write the body of the "
        "lesson described below.",
        _course_part(outline),
        _outline_part(outline, lessons, target),
        _lesson_part(outline, lessons, target),
        _scope_part(lessons, target),
        "# Brief from the author\n\n" + (brief.strip() if brief and brief.strip()
                                         else "No brief: go by the course, the outline and the title."),
        _INSTRUCTIONS,
    ]
    return "\n\n".join(parts) + "\n"


_INSTRUCTIONS = f"""# Instructions

- Answer with the body of the lesson in Markdown and nothing else: no YAML front matter, no code fence
  around the whole answer, no preamble and no closing remarks.
- Length: roughly {WORD_RANGE} words.
- Do not repeat the lesson title as a level-1 heading; structure the lesson with ## and ### headings.
- Where they fit the topic, include short, correct code examples in fenced code blocks with a language tag.
- Plain Markdown only: no raw HTML, no images, no links to other lessons or files.
- Stay within the scope above: teach this lesson's topic, not the other lessons'."""


def _placed(outline: Outline, target: Target) -> list[OutlineLesson]:
    """The course's lessons in order, with the target in its place (a new lesson ends its section)."""
    own = OutlineLesson(slug=target.slug, title=target.title, section=target.section,
                        description=target.fields.get("description"),
                        objectives=[str(o) for o in target.fields.get("objectives") or []])
    lessons = [own if lesson.slug == target.slug else lesson for lesson in outline.lessons]
    if own in lessons:
        return lessons
    order = [section.slug for section in outline.sections]
    rank = order.index(target.section) if target.section in order else len(order)
    at = max((i + 1 for i, lesson in enumerate(lessons)
              if lesson.section in order and order.index(lesson.section) <= rank), default=0)
    return [*lessons[:at], own, *lessons[at:]]


def _course_part(outline: Outline) -> str:
    lines = ["# The course", "", f"Title: {outline.title}"]
    if outline.description:
        lines.append(f"Summary: {outline.description}")
    if outline.about:
        about = outline.about[:COURSE_TEXT_MAX] + ("…" if len(outline.about) > COURSE_TEXT_MAX else "")
        lines += ["", "About the course:", "", about]
    return "\n".join(lines)


def _outline_part(outline: Outline, lessons: list[OutlineLesson], target: Target) -> str:
    lines = ["# Course outline", "", "Sections in order, each with its lessons; → marks the lesson to write.", ""]
    for number, section in enumerate(outline.sections, start=1):
        summary = f": {section.description}" if section.description else ""
        lines.append(f"{number}. {section.title}{summary}")
        inside = [lesson for lesson in lessons if lesson.section == section.slug]
        for index, lesson in enumerate(inside, start=1):
            mark = "→ " if lesson.slug == target.slug else ""
            lines.append(f"   {mark}{number}.{index} {lesson.title}")
    return "\n".join(lines)


def _lesson_part(outline: Outline, lessons: list[OutlineLesson], target: Target) -> str:
    index = next(i for i, lesson in enumerate(lessons) if lesson.slug == target.slug)
    own = lessons[index]
    section = next((s.title for s in outline.sections if s.slug == target.section), target.section)
    lines = ["# The lesson to write", "", f"Title: {target.title}", f"Section: {section}"]
    if own.description:
        lines.append(f"Summary: {own.description}")
    lines += [f"Objective: {objective}" for objective in own.objectives]
    before = lessons[index - 1] if index > 0 else None
    after = lessons[index + 1] if index + 1 < len(lessons) else None
    lines.append(f"Comes after: {_described(before)}" if before else "It is the first lesson of the course.")
    lines.append(f"Comes before: {_described(after)}" if after else "It is the last lesson of the course.")
    return "\n".join(lines)


def _scope_part(lessons: list[OutlineLesson], target: Target) -> str:
    others = [lesson for lesson in lessons if lesson.slug != target.slug]
    if not others:
        return "# Out of scope\n\nThis is the course's only lesson so far."
    lines = ["# Out of scope", "", "Other lessons of this course teach these. Do not teach them here; at most "
             "mention one in a sentence and move on.", ""]
    lines += [f"- {_described(lesson)}" for lesson in others]
    return "\n".join(lines)


def _described(lesson: OutlineLesson) -> str:
    text = f'"{lesson.title}"'
    if lesson.objectives:
        text += f" (objectives: {'; '.join(lesson.objectives)})"
    return text


# --------------------------------------------------------------------------
# Gemini, behind the seam
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry policy: `attempts` calls at most, each within `timeout` seconds; 429 and 5xx answers
    are retried after an exponential backoff (`initial_delay` doubling up to `max_delay`, plus up to 10%
    jitter; a longer `Retry-After` is honoured up to `max_delay`)."""

    attempts: int = 4
    initial_delay: float = 2.0
    max_delay: float = 30.0
    timeout: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.timeout <= 0 or self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("a retry policy needs attempts >= 1, a positive timeout and delays >= 0")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait * (1 + random.random() / 10)


@dataclass(frozen=True)
class Gemini:
    """The real `Generate`: the google-genai SDK's async client, one call per draft (retried by `policy`)."""

    api_key: str = dataclasses.field(repr=False)
    model: str
    policy: RetryPolicy = RetryPolicy()

    def __call__(self, prompt: str) -> str:
        """Ask once (plus retries); called from synchronous code: the CLI, or the API's worker thread."""
        return answer_text(asyncio.run(self._ask(prompt)))

    async def _ask(self, prompt: str) -> types.GenerateContentResponse:
        from google import genai  # the SDK takes a second to import; only a draft needs it
        from google.genai import types

        options = types.HttpOptions(timeout=round(self.policy.timeout * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        client = genai.Client(api_key=self.api_key, http_options=options)  # base_url: GOOGLE_GEMINI_BASE_URL
        config = types.GenerateContentConfig(max_output_tokens=MAX_OUTPUT_TOKENS)
        try:
            return await _with_retries(
                lambda: client.aio.models.generate_content(model=self.model, contents=prompt, config=config),
                self.policy)
        finally:
            await client.aio.aclose()


def gemini(settings: Settings, policy: RetryPolicy | None = None) -> Gemini:
    """The Gemini seam from settings (GEMINI_API_KEY, GEMINI_MODEL); 503 when there is no key."""
    if not settings.gemini_api_key:
        raise NotConfigured("AI drafts need a Gemini API key: set GEMINI_API_KEY", reason="ai-not-configured")
    return Gemini(api_key=settings.gemini_api_key, model=settings.gemini_model, policy=policy or RetryPolicy())


async def _with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    from google.genai import errors

    for attempt in range(1, policy.attempts + 1):
        try:
            return await asyncio.wait_for(call(), policy.timeout)
        except errors.APIError as error:
            if error.code not in RETRY_STATUSES or attempt == policy.attempts:
                raise _refused(error, attempt) from None
            await asyncio.sleep(policy.delay(attempt, _retry_after(error)))
        except (TimeoutError, *_timeouts()):
            raise UpstreamError(f"Gemini did not answer within {policy.timeout:g} seconds; nothing was written: "
                                "try again later", reason="ai-timeout") from None
        except _network_errors() as error:
            raise UpstreamError(f"Gemini could not be reached ({type(error).__name__}: {error}); nothing was "
                                "written: check the network (and GOOGLE_GEMINI_BASE_URL if set)",
                                reason="ai-unreachable") from None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _refused(error: Any, attempts: int) -> UpstreamError:
    what = f"{error.code} {error.status or ''}".strip() + (f": {error.message}" if error.message else "")
    if error.code == 429:
        return UpstreamError(f"Gemini is rate limiting us ({what}) after {attempts} attempts; nothing was "
                             "written: try again later", reason="ai-rate-limited")
    if error.code in RETRY_STATUSES:
        return UpstreamError(f"Gemini failed ({what}) after {attempts} attempts; nothing was written: try again "
                             "later", reason="ai-unavailable")
    return UpstreamError(f"Gemini refused the request ({what}); nothing was written: check GEMINI_API_KEY and "
                         "GEMINI_MODEL", reason="ai-refused")


def _retry_after(error: Any) -> float | None:
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    with contextlib.suppress(TypeError, ValueError):
        return float(headers.get("retry-after"))
    return None


@cache
def _network_errors() -> tuple[type[Exception], ...]:
    """Transport errors of whichever httpx the SDK uses (httpx2 from google-genai 3, httpx before)."""
    return tuple(_from_httpx("TransportError"))


@cache
def _timeouts() -> tuple[type[Exception], ...]:
    return tuple(_from_httpx("TimeoutException"))


def _from_httpx(name: str) -> Iterator[type[Exception]]:
    for module in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            yield getattr(importlib.import_module(module), name)


def answer_text(response: types.GenerateContentResponse) -> str:
    """The text of a complete answer; a blocked, truncated or empty answer is an `UpstreamError`."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        raise UpstreamError(f"Gemini blocked the prompt ({_name(feedback.block_reason)}); nothing was written: "
                            "rephrase the title or the brief", reason="ai-blocked")
    if not response.candidates:
        raise UpstreamError("Gemini's answer holds no lesson; nothing was written: try again", reason="ai-empty")
    candidate = response.candidates[0]
    reason = _name(candidate.finish_reason)
    if reason == "MAX_TOKENS":
        raise UpstreamError("Gemini's answer was cut off (finish reason MAX_TOKENS); nothing was written: try "
                            "again, perhaps with a narrower brief", reason="ai-truncated")
    if reason != "STOP":
        raise UpstreamError(f"Gemini stopped without a usable answer (finish reason {reason}); nothing was "
                            "written: rephrase the title or the brief", reason="ai-blocked")
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(part.text for part in parts if part.text and not part.thought)
    if not text.strip():
        raise UpstreamError("Gemini's answer is empty; nothing was written: try again", reason="ai-empty")
    return text


def _name(value: Any) -> str:
    return str(getattr(value, "value", value) or "none")


# --------------------------------------------------------------------------
# The answer → the lesson file
# --------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"^(`{3,}|~{3,})[ \t]*([A-Za-z]*)[ \t]*$")
_FRONT_MATTER_MARKERS = ("---", "+++")


def clean_answer(text: str) -> str:
    """The lesson body: without a fence wrapping the whole answer or front matter the model added anyway."""
    body = text.replace("\r\n", "\n").strip()
    for _ in range(3):
        cleaned = _drop_front_matter(_unwrap_fence(body)).strip()
        if cleaned == body:
            break
        body = cleaned
    return f"{body}\n" if body else ""


def _unwrap_fence(text: str) -> str:
    lines = text.split("\n")
    opening = _FENCE_OPEN.match(lines[0]) if len(lines) > 2 else None
    if opening is None:
        return text
    fence, info = opening.groups()
    closing = lines[-1].strip()
    if len(closing) < len(fence) or set(closing) != {fence[0]}:
        return text
    inner = lines[1:-1]
    first = next((line for line in inner if line.strip()), "")
    if info.lower() in ("markdown", "md") or (not info and first.startswith("#")):
        return "\n".join(inner)
    return text


def _drop_front_matter(text: str) -> str:
    lines = text.split("\n")
    marker = lines[0].strip()
    if marker not in _FRONT_MATTER_MARKERS:
        return text
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == marker:
            return "\n".join(lines[index + 1:])
    return text


def usable_body(answer: str) -> str:
    """The cleaned answer, if it is long enough to be a lesson (words counted as the renderer counts them)."""
    body = clean_answer(answer)
    if not body:
        raise UpstreamError("Gemini's answer is empty once its wrapping is removed; nothing was written: try again",
                            reason="ai-empty")
    words = render(body).words
    if words < MIN_WORDS:
        raise UpstreamError(f"Gemini's answer is too short to be a lesson ({words} words; asked for roughly "
                            f"{WORD_RANGE}); nothing was written: try again", reason="ai-too-short")
    return body


def lesson_text(target: Target, body: str, model: str, prompt: str) -> str:
    """The lesson file: its front matter (kept when regenerating), `status: draft`, fresh provenance."""
    fields = {key: value for key, value in target.fields.items() if key not in ("status", "ai")}
    fields["status"] = "draft"
    fields["ai"] = {"model": model, "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
                    "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return dump_markdown(fields, body)


def _validate(tree: ContentTree, db_path: Path, path: str, text: str) -> Document:
    """Like the write path: the lesson must parse and add no error to the tree the index knows."""
    source = classify(path)
    assert isinstance(source, Source)
    document = tree.parse(source, text.encode())
    corpus, before = stored_corpus(tree, db_path, {path})
    corpus.add(document)
    known = {_identity(problem) for problem in before}
    new = [problem for problem in check(corpus) if problem.is_error and _identity(problem) not in known]
    if new:
        shown = "; ".join(f"{problem.location()}: {problem.describe()}" for problem in new[:3])
        raise ContentError(f"the drafted lesson does not validate, so nothing was written: {shown}", new)
    return document


def _identity(problem: Problem) -> tuple[str, str, str | None, str]:
    return (problem.file, problem.rule, problem.field, problem.message)


# --------------------------------------------------------------------------
# The branch: one commit on top of HEAD, made without touching the checkout
# --------------------------------------------------------------------------


class _GitFailed(Exception):
    pass


def _git(repo: GitRepo, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
    return _git_bytes(repo, *args, stdin=stdin, env=env).decode().strip()


def _git_bytes(repo: GitRepo, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
    result = subprocess.run(["git", "-c", "core.quotePath=false", *args], cwd=repo.root, input=stdin,
                            capture_output=True, env={**os.environ, **(env or {})}, check=False)
    if result.returncode != 0:
        raise _GitFailed(result.stderr.decode(errors="replace").strip() or f"exit code {result.returncode}")
    return result.stdout


def _branch_exists(repo: GitRepo, branch: str) -> bool:
    return f"refs/heads/{branch}" in _git(repo, "for-each-ref", "--format=%(refname)", f"refs/heads/{branch}")


def _draft_exists(branch: str) -> Conflict:
    return Conflict(f"the branch {branch} already exists: review and merge or delete it first "
                    f"(git branch -D {branch}), or draft under another title", reason="draft-exists")


def _commit_on_branch(repo: GitRepo, branch: str, base: str, path: str, text: str, message: str,
                      author: Identity) -> str:
    """Commit `text` at `path` on top of `base` as a new branch; it is an error (409) if the branch exists."""
    blob = _git(repo, "hash-object", "-w", "--stdin", stdin=text.encode())
    listed = _git(repo, "ls-tree", base, "--", path).split(" ", 1)[0]
    mode = listed if listed in ("100644", "100755") else "100644"
    with tempfile.TemporaryDirectory(prefix="cms-draft-") as folder:
        index = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
        _git(repo, "read-tree", base, env=index)
        _git(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=index)
        tree = _git(repo, "write-tree", env=index)
    people = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
              "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email}
    commit = _git(repo, "commit-tree", tree, "-p", base, "-F", "-", stdin=message.encode(), env=people)
    try:
        _git(repo, "update-ref", "-m", "cms ai draft", f"refs/heads/{branch}", commit, "0" * len(base))
    except _GitFailed as error:
        if _branch_exists(repo, branch):
            raise _draft_exists(branch) from None
        raise Conflict(f"git refused to create the branch {branch}: {error}", reason="branch-refused") from None
    return commit


def _message(target: Target, model: str) -> str:
    verb = "Regenerate" if target.existing else "Draft"
    return (f"{verb} lesson {target.course}/{target.slug} with {model}\n\n"
            "Written by `cms ai draft` as a draft for review: nothing is published until an author\n"
            "sets `status: published` and merges this branch.\n")


def _push(repo: GitRepo, branch: str, commit: str) -> bool:
    """Push the new branch; if the remote refuses, the local branch goes too (no half-made draft)."""
    try:
        return remote.push_branch(repo, branch) is not None
    except Conflict:
        with contextlib.suppress(_GitFailed):
            _git(repo, "update-ref", "-d", f"refs/heads/{branch}", commit)
        raise
