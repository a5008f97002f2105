"""Markdown to HTML: the one configured renderer for every body in the corpus (comrak).

Lesson, course, project and author bodies are written by many hands (and
some start life as an AI draft). The HTML made here is stored in the index
and inserted into public pages as is, so it must be safe for *any* input.

The dialect is CommonMark plus GFM tables and strikethrough (`~~x~~`), with
raw HTML escaped: it shows as the text it is. comrak (Rust) parses and
writes HTML; `cms.index.markup` rewrites a few of its habits in one pass.

Security model: two independent walls, each enough on its own.

1. The parser never emits dangerous markup.
   - `render.escape`: raw HTML (blocks and inline, comments, CDATA) is
     escaped as text, never passed through. (`render.unsafe_` is on only so
     that comrak hands *every* destination to our rewriters instead of
     blanking some itself; with `escape` on it never lets HTML through.)
   - Every link, image and autolink destination goes through
     `is_safe_url` in comrak's URL rewriters. A refused destination becomes
     `markup.REFUSED` and the construct is unwrapped: a link shows as its
     text, an image as its alt text.
   - comrak escapes attribute values; heading ids are `h-` plus an ASCII
     slug (so they cannot clobber page globals such as `id="location"`); a
     code fence language is kept only if it is all `[A-Za-z0-9_+-]`.
2. nh3 (ammonia) re-parses the output and keeps only an allow-list (see
   `cms.index.sanitizer`). On our own output it changes nothing but
   serialisation; it is there so that a bug in wall 1, or in comrak, is not
   an XSS.

The tests run an XSS corpus through each wall separately and through both,
and compare the output with markdown-it-py's on the fixture corpus.

comrak's options are built once, at import; what one call needs (the link
resolver, the first error a rewriter met) lives in a `ContextVar` set for
the length of that call.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import comrak
import msgspec
from mdurl import decode as url_decode
from mdurl import encode as url_encode

from cms.index import markup
from cms.index.markup import REFUSED, TocEntry
from cms.index.sanitizer import HEADING_ID_PREFIX, has_scheme, is_safe_url, sanitize

__all__ = ["LinkResolver", "Rendered", "TocEntry", "is_safe_url", "reading_time_minutes", "render"]

LinkResolver = Callable[[str], str | None]
"""Given a relative link target as written (e.g. '../02-x/03-y.md#part'),
return the public URL to use instead, or None to keep it.

The answer is used as given (only URL-normalised, and dropped if it fails
`is_safe_url`), so a fragment in it must already name the rendered heading
id: '/learn/y#h-part'."""


class Rendered(msgspec.Struct, frozen=True):
    """The HTML of a body plus what the index derives from it."""

    html: str
    toc: list[TocEntry]
    words: int
    text: str = ""
    """The words of the body on one line, without markup: what full-text search indexes."""


WORDS_PER_MINUTE = 200


def reading_time_minutes(words: int) -> int:
    """Minutes to read `words` at 200 a minute: 0 for none, else at least 1."""
    return 0 if words <= 0 else math.ceil(words / WORDS_PER_MINUTE)


# --------------------------------------------------------------------------- destinations (wall 1)

_PLAIN_URL_RE = re.compile(r"[A-Za-z0-9/._~#?=&+-]*")
"""Already in normal form: no need to percent-encode."""


class _Call:
    """One render's state, for comrak's URL rewriters."""

    def __init__(self, resolve: LinkResolver | None) -> None:
        self.resolve = resolve
        self.error: BaseException | None = None

    def link(self, url: str) -> str:
        """Refuse, point an in-page anchor at our heading ids, or resolve a relative target."""
        if not is_safe_url(url):
            return REFUSED
        if url.startswith("#"):
            return f"#{HEADING_ID_PREFIX}{url[1:]}" if len(url) > 1 else url
        if self.resolve is not None and _is_relative_target(url):
            return self._resolved(url) or url
        return url

    def image(self, url: str) -> str:
        """Refuse or keep (images are never resolved)."""
        return url if is_safe_url(url) else REFUSED

    def _resolved(self, url: str) -> str | None:
        """The resolver's URL for a relative target, normalised and checked."""
        assert self.resolve is not None
        answer = self.resolve(url_decode(url))
        if answer is None:
            return None
        normalized = answer if _PLAIN_URL_RE.fullmatch(answer) else url_encode(answer)
        return normalized if is_safe_url(normalized) else None


def _is_relative_target(url: str) -> bool:
    return bool(url) and not url.startswith(("#", "/")) and not has_scheme(url)


_CALL: ContextVar[_Call | None] = ContextVar("render_call", default=None)


def _rewriter(rewrite: Callable[[_Call, str], str]) -> Callable[[str], str]:
    """A comrak URL rewriter that never raises.

    comrak would swallow an error and keep the URL as written, so the URL is
    refused instead and the error kept for `render` to raise.
    """
    def rewriter(url: str) -> str:
        call = _CALL.get() or _Call(None)  # no call only when comrak is used outside this module
        try:
            return rewrite(call, url)
        except BaseException as error:
            call.error = call.error or error
            return REFUSED
    return rewriter


def _options() -> tuple[comrak.ExtensionOptions, comrak.RenderOptions]:
    extension = comrak.ExtensionOptions()
    extension.table = True
    extension.strikethrough = True
    extension.subscript = True  # so that `~x~` is told apart from `~~x~~`; `markup` puts the tildes back
    extension.link_url_rewriter = _rewriter(_Call.link)
    extension.image_url_rewriter = _rewriter(_Call.image)
    options = comrak.RenderOptions()
    options.escape = True
    options.unsafe_ = True
    return extension, options


_EXTENSION, _RENDER = _options()


# --------------------------------------------------------------------------- raw HTML that never ends

_OPENER_RE = re.compile(r"<(?:(!--)|(\?)|(!\[CDATA\[)|(![A-Za-z])|(script|pre|style|textarea)(?:[ \t>\n]|$))",
                        re.IGNORECASE)
"""The openers of the raw-HTML blocks that end only at an end marker, not at a blank line: CommonMark runs
one without its end marker to the end of the document."""
_END_MARKERS = ("-->", "?>", "]]>", ">")
"""The end marker of each opener group of `_OPENER_RE` but the last, whose marker is its closing tag."""
_BLANK_END_RE = re.compile(r"\n[ \t]*\n\Z")
_MAX_REOPENED = 8


def _comrak(text: str, call: _Call) -> str:
    token = _CALL.set(call)
    try:
        return comrak.render_markdown(text, _EXTENSION, None, _RENDER)
    finally:
        _CALL.reset(token)


def _rendered_markup(text: str, call: _Call) -> str:
    """comrak's HTML for `text`, with an unended raw-HTML opener at top level shown as text.

    An unclosed `<!--` (or `<script`, `<?`…) would otherwise take the rest of
    the body with it, as one block of escaped text. Its opener is escaped
    and the rest rendered as markdown, as markdown-it did (a few times at
    most: past that the rest stays text, which is still safe).
    """
    html_out = _comrak(text, call)
    for _ in range(_MAX_REOPENED):
        opener = _unended_opener(text, html_out)
        if opener is None:
            break
        text = f"{text[:opener]}\\{text[opener:]}"
        html_out = _comrak(text, call)
    return html_out


def _unended_opener(text: str, html_out: str) -> int | None:
    """Where in `text` a raw-HTML block that runs to the end of the document opens, if one does.

    comrak writes neighbouring raw-HTML blocks as one run of escaped text, so
    each line of the last run that opens a block (first, or after a blank
    line) is a candidate; the text must end with the run from there on.
    """
    blocks = markup.raw_html_blocks(html_out)
    if not blocks:
        return None
    lines = html_out.split("\n")
    if blocks[-1][1] < len(lines) - (lines[-1] == ""):
        return None
    first, end = blocks[-1]
    run = html.unescape("\n".join(lines[first:end])).split("\n")
    tail = text.rstrip("\n")
    for number, line in enumerate(run):
        opener = _OPENER_RE.match(line.lstrip(" "))
        if opener is None:
            continue
        rest = "\n".join(run[number:])
        start = len(tail) - len(rest)
        opens = start == 0 or (number == 0 and tail[start - 1] == "\n") or _BLANK_END_RE.search(tail, 0, start)
        if tail.endswith(rest) and opens and not _ends(opener, rest):
            return text.index("<", start)
    return None


def _ends(opener: re.Match[str], block: str) -> bool:
    """Whether the raw-HTML block that `opener` starts holds its end marker after the opener."""
    rest = block.lstrip(" ")[opener.end():]
    tag = opener.group(5)
    if tag is not None:
        return f"</{tag.lower()}>" in rest.lower()
    marker = next(_END_MARKERS[i] for i in range(4) if opener.group(i + 1) is not None)
    return marker in rest


# --------------------------------------------------------------------------- public entry point

_NUL = "\x00"


def _normalized(markdown: str) -> str:
    """Line ends as `\\n` and NUL as U+FFFD, as CommonMark reads them."""
    if "\r" in markdown:
        markdown = markdown.replace("\r\n", "\n").replace("\r", "\n")
    return markdown.replace(_NUL, "\ufffd") if _NUL in markdown else markdown


def _render_markup(markdown: str, env: dict[str, Any]) -> str:
    """Wall 1 alone: comrak and the rewrites, before the sanitizer; sets `env['toc']`, `['words']`, `['text']`."""
    call = _Call(env.get("resolve_link"))
    html_out = _rendered_markup(_normalized(markdown), call)
    if call.error is not None:
        raise call.error
    html_out, env["toc"] = markup.rewrite(html_out)
    words = markup.words(html_out)
    env["text"], env["words"] = " ".join(words), len(words)
    return html_out


def render(markdown: str, resolve_link: LinkResolver | None = None) -> Rendered:
    """Render a markdown body to safe HTML, its table of contents, word count and plain text."""
    env: dict[str, Any] = {"resolve_link": resolve_link}
    html_out = _render_markup(markdown, env)
    return Rendered(html=sanitize(html_out), toc=env["toc"], words=env["words"], text=env["text"])
