"""comrak's HTML → the HTML the index stores: one pass of small rewrites, and what is derived from it.

comrak writes CommonMark HTML; a few of its habits differ from the HTML the
index has always stored (and the sanitizer's allow-list expects), so they are
rewritten here, each by one small function: refused destinations unwrapped,
escaped raw-HTML blocks made paragraphs, `rel` on external links, heading ids
and the table of contents, code classes, table alignment, `<s>`. Then the
text: tags dropped (an image gives its alt text), entities decoded, once, for
both the word count and the search index.

Everything here reads HTML that comrak wrote with raw HTML escaped, so a `<`
in it is always one of comrak's own tags and an attribute value never holds
a `"`: plain regular expressions are exact on it.
"""

from __future__ import annotations

import html
import re
import unicodedata

import msgspec

from cms.index.sanitizer import EXTERNAL_LINK_REL, HEADING_ID_PREFIX

REFUSED = "data:,refused"
"""What a refused link or image destination becomes in comrak's output, to be unwrapped here.
It fails `is_safe_url` itself, so no destination that was let through can look like it."""


class TocEntry(msgspec.Struct, frozen=True):
    """One heading of a rendered body, in document order."""

    level: int
    id: str
    title: str


_REFUSED_IMAGE_RE = re.compile(r'<img src="data:,refused" alt="([^"]*)"[^>]*>')
_REFUSED_LINK_RE = re.compile(r'<a href="data:,refused"[^>]*>(.*?)</a>', re.DOTALL)
_EXTERNAL_LINK_RE = re.compile(r'(<a href="(?:[Hh][Tt][Tt][Pp][Ss]?:)?//[^"]*"(?: title="[^"]*")?)>')
_BAD_CODE_CLASS_RE = re.compile(r'<code class="language-(?![A-Za-z0-9_+-]+")[^"]*">')
_HEADING_RE = re.compile(r"<h([1-6])>(.*?)</h\1>", re.DOTALL)
_IMAGE_ALT_RE = re.compile(r'<img [^>]*?alt="([^"]*)"[^>]*>')
_LINE_BREAK_RE = re.compile(r"<br />\n?|\n")
_TAG_RE = re.compile(r"<[^>]*>")
_NON_SLUG_RE = re.compile(r"[^a-z0-9]+")
_EMPTY_SLUG = "section"
_ALIGNMENTS = [(f'<t{cell} align="{side}">', f'<t{cell} style="text-align:{side}">')
               for cell in "hd" for side in ("left", "center", "right")]


def rewrite(markup: str) -> tuple[str, list[TocEntry]]:
    """comrak's HTML as the index stores it, and the table of contents."""
    if "&lt;" in markup:
        markup = raw_html_paragraphs(markup)
    if REFUSED in markup:
        markup = _REFUSED_LINK_RE.sub(r"\1", _REFUSED_IMAGE_RE.sub(r"\1", markup))
    if "//" in markup:
        markup = _EXTERNAL_LINK_RE.sub(rf'\1 rel="{EXTERNAL_LINK_REL}">', markup)
    headings = _Headings()
    if "<h" in markup:
        markup = _HEADING_RE.sub(headings, markup)
    return _tidy(markup), headings.toc


def _tidy(markup: str) -> str:
    """Code classes that are not a plain language name dropped, and comrak's spelling of a few things made ours."""
    if 'class="language-' in markup:
        markup = _BAD_CODE_CLASS_RE.sub("<code>", markup)
    if ' align="' in markup:
        for old, new in _ALIGNMENTS:
            markup = markup.replace(old, new)
    if "<del>" in markup:
        markup = markup.replace("<del>", "<s>").replace("</del>", "</s>")
    if "<blockquote>\n</blockquote>" in markup:
        markup = markup.replace("<blockquote>\n</blockquote>", "<blockquote></blockquote>")
    if "<sub>" in markup:  # single tildes are parsed as subscript only so that they are not strikethrough
        markup = markup.replace("<sub>", "~").replace("</sub>", "~")
    return markup


def words(markup: str) -> list[str]:
    """The words of some markup: tags dropped (an image gives its alt text), entities decoded.

    Every block comrak writes ends in a newline, so dropping tags never joins
    the words of two blocks.
    """
    if "<img" in markup:
        markup = _IMAGE_ALT_RE.sub(r"\1", markup)
    pieces = markup.split("<")
    text = pieces[0] + "".join([piece[piece.find(">") + 1:] for piece in pieces[1:]])
    return _unescaped(text).split()


def _unescaped(text: str) -> str:
    """comrak's text with its entities decoded: it writes `&amp;`, `&lt;`, `&gt;` and `&quot;` only."""
    if "&" not in text:
        return text
    if "&#" in text:
        return html.unescape(text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


# --------------------------------------------------------------------------- escaped raw HTML blocks

# comrak writes an escaped raw-HTML block as bare text right after a block boundary (every other block
# starts with a tag); the index has always stored such text as paragraphs.
_BLOCK_ENDS = ("</p>", "</pre>", "</li>", "</ul>", "</ol>", "<blockquote>", "</blockquote>", "</table>",
               "<hr />", *(f"</h{level}>" for level in range(1, 7)))
_HTML_BLOCK_START_RE = re.compile(r" {0,3}&lt;")
_BLANK_LINES_RE = re.compile(r"\n(?:[ \t]*\n)+")


def raw_html_blocks(markup: str) -> list[tuple[int, int]]:
    """(first, last + 1) line numbers of each escaped raw-HTML block in comrak's output."""
    if not _escaped_at_line_start(markup):
        return []
    blocks: list[tuple[int, int]] = []
    start: int | None = None
    at_boundary = True
    lines = markup.split("\n")
    for number, line in enumerate(lines):
        if start is not None and not line.startswith("<"):
            continue
        if start is not None:
            blocks.append((start, number))
            start, at_boundary = None, True
        if at_boundary and _HTML_BLOCK_START_RE.match(line):
            start = number
        else:
            at_boundary = line.endswith(_BLOCK_ENDS)
    if start is not None:
        blocks.append((start, len(lines) - (lines[-1] == "")))
    return blocks


_LINE_STARTS = tuple(f"\n{' ' * spaces}&lt;" for spaces in range(4))


def _escaped_at_line_start(markup: str) -> bool:
    """Whether some line of `markup` starts with `&lt;` (after at most three spaces): a quick first look."""
    return markup.startswith(tuple(start[1:] for start in _LINE_STARTS)) or any(
        start in markup for start in _LINE_STARTS)


def raw_html_paragraphs(markup: str) -> str:
    """Each escaped raw-HTML block as paragraphs, split at blank lines, lines trimmed."""
    blocks = raw_html_blocks(markup)
    if not blocks:
        return markup
    lines = markup.split("\n")
    for first, end in reversed(blocks):
        lines[first:end] = [_paragraphs(lines[first:end])]
    return "\n".join(lines)


def _paragraphs(lines: list[str]) -> str:
    text = "\n".join(line.strip() for line in lines).strip("\n")
    return "\n".join(f"<p>{paragraph}</p>" for paragraph in _BLANK_LINES_RE.split(text))


# --------------------------------------------------------------------------- heading ids


def slugify(text: str) -> str:
    """Lowercase ASCII letters, digits and single hyphens: 'Café & C++' → 'cafe-c'."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NON_SLUG_RE.sub("-", text.lower()).strip("-") or _EMPTY_SLUG


def _heading_title(inner: str) -> str:
    """A heading's text as the table of contents shows it: line breaks as spaces, images as their alt text."""
    if "\n" in inner:
        inner = _LINE_BREAK_RE.sub(" ", inner)
    if "<" in inner:
        if "<img" in inner:
            inner = _IMAGE_ALT_RE.sub(r"\1", inner)
        inner = _TAG_RE.sub("", inner)
    return (html.unescape(inner) if "&" in inner else inner).strip()


class _Headings:
    """Gives each `<hN>` a unique `id="h-<slug>"` (`-2`, `-3`… on repeats) and records the table of contents."""

    def __init__(self) -> None:
        self.toc: list[TocEntry] = []
        self.used: set[str] = set()
        self.last: dict[str, int] = {}
        """Per candidate, the last number tried: N identical headings take N steps, not N²/2."""

    def __call__(self, match: re.Match[str]) -> str:
        level, inner = match.groups()
        title = _heading_title(inner)
        anchor = self._take(HEADING_ID_PREFIX + slugify(title))
        self.toc.append(TocEntry(level=int(level), id=anchor, title=title))
        return f'<h{level} id="{anchor}">{inner}</h{level}>'

    def _take(self, candidate: str) -> str:
        number = self.last.get(candidate, 1)
        anchor = candidate if number == 1 else f"{candidate}-{number}"
        while anchor in self.used:
            number += 1
            anchor = f"{candidate}-{number}"
        self.last[candidate] = number
        self.used.add(anchor)
        return anchor
