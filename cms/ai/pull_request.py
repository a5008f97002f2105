"""The pull request of an AI draft: its title, and a markdown description a reviewer can act on.

    DraftReview (lesson, branch, provenance, brief, preview) → title()  "Lesson draft: <title>"
                                                             → body()   provenance, preview link, brief, checklist

Whatever a person or a model wrote (the lesson's title, the brief, the model's name) shows as typed and does
nothing else: it cannot add headings, lists, links, images or HTML, and it cannot mention people, teams,
issues or merge requests (`@user`, `@org/team`, `#12`, `!3`, GitLab's `~label`), which would notify them.
Markdown syntax is backslash-escaped (CommonMark: any ASCII punctuation may be); the forges find mentions
and references in the rendered text, after escapes are gone, so those are broken with an invisible
zero-width space after the `@`, `#`… instead. Short values go in code spans, where nothing is interpreted.

The title never starts with `Draft:`, `[Draft]` or `WIP:`, which would make a GitLab merge request a draft
that cannot be merged until someone marks it ready.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

__all__ = ["DraftReview", "body", "escape", "title"]

TITLE_MAX = 255
"""GitLab's limit for a merge request's title (GitHub's and Gitea's are 256 and 255)."""
ZERO_WIDTH_SPACE = "\u200b"

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&${}])")
"""Inline markdown (emphasis, code, links, HTML, entities, tables, strikethrough, GitLab's math and diffs)."""
_BLOCK_START = re.compile(r"^(#|>|-|\+|=|\d+(?=[.)]))")
"""What makes a line a heading, quote, list item, setext underline or numbered item (digits: the `.` or `)`)."""
_REFERENCE = re.compile(r"([@#!%~$&])(?=\S)")
"""Mentions and references: `@user`, `#12`, `!3`, GitLab's `%milestone`, `~label`, `$snippet` and `&epic`."""
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DraftReview:
    """What the pull request of one draft says: the lesson, where it is, how it was made and where to see it."""

    course: str
    lesson: str
    title: str
    path: str
    branch: str
    model: str
    prompt_sha256: str
    brief: str | None = None
    preview_url: str | None = None


def title(review: DraftReview) -> str:
    """`Lesson draft: <title>` on one line, at most TITLE_MAX characters, mentioning nobody."""
    text = _breaking_references(_one_line(f"Lesson draft: {review.title}"))
    return text if len(text) <= TITLE_MAX else text[:TITLE_MAX - 1].rstrip() + "…"


def body(review: DraftReview) -> str:
    """The description: what this is, the preview, the provenance, the brief (quoted) and a checklist."""
    parts = [
        f"## {escape(_one_line(review.title))}",
        "An AI draft of this lesson, written by `cms ai draft` for review. Nothing is published until the "
        "lesson's `status` is `published` and this branch is merged.",
        _preview(review.preview_url),
        _provenance(review),
        "### Brief",
        _quoted(review.brief) if review.brief and review.brief.strip() else "_No brief: the model went by the "
        "course, its outline and the title._",
        _CHECKLIST,
    ]
    return "\n\n".join(parts) + "\n"


def escape(text: str) -> str:
    """`text` as literal markdown text: one paragraph that renders as typed and mentions nobody."""
    lines = [_escaped_line(line) for line in _clean(text).split("\n")]
    return "\\\n".join(line for line in lines if line)


def _escaped_line(line: str) -> str:
    line = _SPECIAL.sub(r"\\\1", line.strip())
    line = _BLOCK_START.sub(lambda match: _escaped_start(match.group(1)), line, count=1)
    return _breaking_references(line)


def _escaped_start(start: str) -> str:
    return f"{start}\\" if start[0].isdigit() else f"\\{start}"


def _breaking_references(text: str) -> str:
    return _REFERENCE.sub(lambda match: match.group(1) + ZERO_WIDTH_SPACE, text)


def _quoted(brief: str) -> str:
    """The brief as a block quote, paragraph by paragraph, each line kept (as a hard line break)."""
    paragraphs = re.split(r"\n\s*\n", _clean(brief).strip())
    return "\n>\n".join("> " + escape(paragraph).replace("\n", "\n> ") for paragraph in paragraphs)


def _provenance(review: DraftReview) -> str:
    if not _SHA256.fullmatch(review.prompt_sha256):
        raise ValueError("prompt_sha256 must be 64 lowercase hexadecimal digits")
    rows = [("Course", review.course), ("Lesson", review.lesson), ("File", review.path),
            ("Branch", review.branch), ("Model", review.model), ("Prompt SHA-256", review.prompt_sha256)]
    return "### Provenance\n\n" + "\n".join(f"- **{name}:** {_code(value)}" for name, value in rows)


def _preview(url: str | None) -> str:
    if url is None:
        return "No preview link: open the lesson file on this branch."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or _one_line(url) != url or " " in url:
        raise ValueError("the preview link must be an http(s) address without spaces")
    safe = quote(url, safe=":/?#[]@!$&'*+,;=%~")
    return f"**Preview:** [{escape(url)}]({safe})"


def _code(text: str) -> str:
    """A code span holding `text` exactly: its backtick fence is longer than any run of backticks inside."""
    value = _one_line(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
    padding = " " if value.startswith("`") or value.endswith("`") or not value.strip() else ""
    return f"{fence}{padding}{value}{padding}{fence}"


def _clean(text: str) -> str:
    """Newlines as `\\n`, tabs as spaces, and no other control or invisible formatting characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return "".join(char for char in text if char == "\n" or unicodedata.category(char) not in ("Cc", "Cf"))


def _one_line(text: str) -> str:
    return " ".join(_clean(text).split())


_CHECKLIST = """### Reviewer checklist

- [ ] Correct: facts checked, every code example runs as shown.
- [ ] In scope: it teaches what the brief and the course outline ask, not other lessons' topics.
- [ ] Honest: nothing copied without credit, no invented links, quotes or APIs.
- [ ] Front matter: title, description and objectives fit the lesson.
- [ ] The preview renders: headings, lists and code blocks look right.
- [ ] Ready: set `status: published` on this branch, then merge (or close this and delete the branch)."""
