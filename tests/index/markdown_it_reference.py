"""The reference renderer: markdown-it-py, as Coursebase rendered markdown before comrak.

`test_reference.py` renders the fixture corpus with this and with
`cms.index.rendering` and checks that they agree, except where a listed,
deliberate difference says otherwise. It is not used in production (the
dev extra installs markdown-it-py for it).

Configured as production was: CommonMark plus tables and strikethrough,
`html` off (raw HTML escaped as text), every destination through
`is_safe_url` (`validateLink`, which drops a refused construct to its
source text), heading ids `h-<slug>` with a table of contents, relative
links resolved, `rel` on external links, words counted from the tokens,
and the sanitizer from `cms.index.sanitizer` as the second wall.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence

import mdurl
import msgspec
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from cms.index.sanitizer import EXTERNAL_LINK_REL, HEADING_ID_PREFIX, has_scheme, is_safe_url, sanitize

__all__ = [
    "LinkResolver",
    "Rendered",
    "TocEntry",
    "is_safe_url",
    "reading_time_minutes",
    "render",
]

LinkResolver = Callable[[str], str | None]
"""Given a relative link target as written (e.g. '../02-x/03-y.md#part'),
return the public URL to use instead, or None to keep it.

The answer is used as given (only URL-normalised, and dropped if it fails
:func:`is_safe_url`), so a fragment in it must already name the rendered
heading id: '/learn/y#h-part'."""


class TocEntry(msgspec.Struct, frozen=True):
    """One heading of a rendered body, in document order."""

    level: int
    id: str
    title: str


class Rendered(msgspec.Struct, frozen=True):
    """The HTML of a body plus what the index derives from it."""

    html: str
    toc: list[TocEntry]
    words: int


WORDS_PER_MINUTE = 200

# --------------------------------------------------------------------------
# URL kinds (safety is `cms.index.sanitizer.is_safe_url`)
# --------------------------------------------------------------------------


def _is_external(url: str) -> bool:
    lowered = url.lower()
    return lowered.startswith(("http://", "https://", "//"))


def _is_relative_target(url: str) -> bool:
    return bool(url) and not url.startswith(("#", "/")) and not has_scheme(url)


# --------------------------------------------------------------------------
# Reading time
# --------------------------------------------------------------------------


def reading_time_minutes(words: int) -> int:
    """Minutes to read ``words`` at 200 a minute: 0 for none, else at least 1."""
    if words <= 0:
        return 0
    return math.ceil(words / WORDS_PER_MINUTE)


# --------------------------------------------------------------------------
# Core rules (token transforms)
# --------------------------------------------------------------------------

_NON_SLUG_RE = re.compile(r"[^a-z0-9]+")
_EMPTY_SLUG = "section"


def _inline_children(tokens: Sequence[Token]) -> Iterator[Token]:
    """The tokens inside each inline token (links, text, code spans…)."""
    for token in tokens:
        if token.type == "inline" and token.children:
            yield from token.children


def _plain_text(token: Token) -> str:
    """The text of an inline token (or image) without any markup."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_plain_text(child))
    return "".join(parts).strip()


def _slugify(text: str) -> str:
    """Lowercase ASCII letters, digits and single hyphens: 'Café & C++' → 'cafe-c'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NON_SLUG_RE.sub("-", ascii_text.lower()).strip("-") or _EMPTY_SLUG


class _HeadingIds:
    """Unique heading ids: ``candidate``, or ``candidate-2``, ``-3``… whichever is free first.

    Each candidate remembers the last number it tried, so a body of N identical headings
    takes N steps, not N²/2 (ids only ever get taken, so the first free number never goes down).
    """

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.last: dict[str, int] = {}

    def take(self, candidate: str) -> str:
        number = self.last.get(candidate, 1)
        anchor = candidate if number == 1 else f"{candidate}-{number}"
        while anchor in self.used:
            number += 1
            anchor = f"{candidate}-{number}"
        self.last[candidate] = number
        self.used.add(anchor)
        return anchor


def _assign_heading_ids(state: StateCore) -> None:
    """Give every heading ``id="h-<slug>"`` and record the table of contents."""
    ids = _HeadingIds()
    toc: list[TocEntry] = []
    tokens = state.tokens
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        title = _plain_text(tokens[index + 1])
        anchor = ids.take(HEADING_ID_PREFIX + _slugify(title))
        token.attrSet("id", anchor)
        toc.append(TocEntry(level=int(token.tag[1]), id=anchor, title=title))
    state.env["toc"] = toc


def _in_page_href(href: str) -> str:
    """Point an in-page anchor at our heading ids: '#part' → '#h-part'."""
    return f"#{HEADING_ID_PREFIX}{href[1:]}" if len(href) > 1 else href


# Already in normal form: skip markdown-it's (slow) normalizeLink.
_PLAIN_URL_RE = re.compile(r"[A-Za-z0-9/._~#?=&+-]*")


def _resolved_href(href: str, resolve: LinkResolver) -> str | None:
    """The resolver's URL for a relative target, normalised and checked."""
    answer = resolve(mdurl.decode(href))
    if answer is None:
        return None
    normalized = answer if _PLAIN_URL_RE.fullmatch(answer) else _PARSER.normalizeLink(answer)
    return normalized if is_safe_url(normalized) else None


def _retarget_link(token: Token, resolve: LinkResolver | None) -> None:
    """Rewrite one link's href: in-page anchors, then relative targets."""
    href = str(token.attrGet("href") or "")
    if href.startswith("#"):
        token.attrSet("href", _in_page_href(href))
    elif resolve is not None and _is_relative_target(href):
        resolved = _resolved_href(href, resolve)
        if resolved is not None:
            token.attrSet("href", resolved)


def _rewrite_link_targets(state: StateCore) -> None:
    """Retarget every link (never images) for the published site."""
    resolve: LinkResolver | None = state.env.get("resolve_link")
    for token in _inline_children(state.tokens):
        if token.type == "link_open":
            _retarget_link(token, resolve)


def _mark_external_links(state: StateCore) -> None:
    """Add ``rel="noopener noreferrer"`` to http(s) links (and ``//host``)."""
    for token in _inline_children(state.tokens):
        if token.type == "link_open" and _is_external(str(token.attrGet("href") or "")):
            token.attrSet("rel", EXTERNAL_LINK_REL)


_PROSE_TOKENS = frozenset({"inline", "fence", "code_block"})


def _record_word_count(state: StateCore) -> None:
    """Count the words of text and code (headings included), for reading time."""
    texts = [
        _plain_text(token) if token.type == "inline" else token.content
        for token in state.tokens
        if token.type in _PROSE_TOKENS
    ]
    state.env["words"] = len(" ".join(texts).split())


# --------------------------------------------------------------------------
# Render rules
# --------------------------------------------------------------------------

_FENCE_LANGUAGE_RE = re.compile(r"[A-Za-z0-9_+-]+")


def _fence_language(info: str) -> str:
    """The info string's first word if it is all ``[A-Za-z0-9_+-]``, else ''.

    A word with anything else in it ('c#', '"><script>') gives no class at all:
    no injection, and no misleading half of a name.
    """
    words = unescapeAll(info).split(maxsplit=1)
    return words[0] if words and _FENCE_LANGUAGE_RE.fullmatch(words[0]) else ""


def _render_fence(
    self: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    """``<pre><code class="language-x">``, no highlighting."""
    token = tokens[idx]
    language = _fence_language(token.info)
    class_attr = f' class="language-{language}"' if language else ""
    return f"<pre><code{class_attr}>{escapeHtml(token.content)}</code></pre>\n"


# --------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------


class _SafeMarkdownIt(MarkdownIt):
    """MarkdownIt whose link, image and autolink targets must be safe URLs."""

    def validateLink(self, url: str) -> bool:
        return is_safe_url(url)


def _coursebase_plugin(md: MarkdownIt) -> None:
    """Heading ids, link targets, word count, and the fence renderer."""
    md.core.ruler.push("heading_ids", _assign_heading_ids)
    md.core.ruler.push("link_targets", _rewrite_link_targets)
    md.core.ruler.push("external_links", _mark_external_links)
    md.core.ruler.push("word_count", _record_word_count)
    md.add_render_rule("fence", _render_fence)


def _build_parser() -> MarkdownIt:
    options = {"html": False, "xhtmlOut": False, "linkify": False, "typographer": False}
    md = _SafeMarkdownIt("commonmark", options)
    return md.enable(["table", "strikethrough"]).use(_coursebase_plugin)


_PARSER = _build_parser()


# --------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------


def _render_markup(markdown: str, env: EnvType) -> str:
    """Wall 1 alone: markdown-it's HTML, before the sanitizer."""
    tokens = _PARSER.parse(markdown, env)
    return _PARSER.renderer.render(tokens, _PARSER.options, env)


def render(markdown: str, resolve_link: LinkResolver | None = None) -> Rendered:
    """Render a markdown body to safe HTML, its table of contents and word count."""
    env: EnvType = {"resolve_link": resolve_link}
    markup = _render_markup(markdown, env)
    return Rendered(html=sanitize(markup), toc=env["toc"], words=env["words"])
