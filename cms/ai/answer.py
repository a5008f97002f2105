"""The answer → the lesson file: unwrapped, long enough to be a lesson, with front matter and provenance."""

from __future__ import annotations

import hashlib
import re

from cms.ai.prompt import WORD_RANGE
from cms.ai.target import Target
from cms.content.frontmatter import dump_markdown
from cms.errors import UpstreamError
from cms.index.rendering import render
from cms.timestamps import utc_now

MIN_WORDS = 300
"""An answer with fewer words than this (as the renderer counts them) is not a lesson: refused."""


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


def prompt_sha256(prompt: str) -> str:
    """The provenance's fingerprint of a prompt: its SHA-256, in hexadecimal."""
    return hashlib.sha256(prompt.encode()).hexdigest()


def lesson_text(target: Target, body: str, model: str, prompt: str) -> str:
    """The lesson file: its front matter (kept when regenerating), `status: draft`, fresh provenance."""
    fields = {key: value for key, value in target.fields.items() if key not in ("status", "ai")}
    fields["status"] = "draft"
    fields["ai"] = {"model": model, "prompt_sha256": prompt_sha256(prompt),
                    "generated_at": utc_now()}
    return dump_markdown(fields, body)
