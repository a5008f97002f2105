"""Links between content files: finding them in markdown and where they lead.

Authors link lessons the way their editor does, by relative file path
(`../02-branching/01-branches.md#merging`). The validator checks that such
links point at a content file; the renderer rewrites them to public URLs.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote

from cms.content.sources import Kind, Source

_FENCED = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[`~]*[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*<?([^\s>]+)", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def link_targets(markdown: str) -> list[tuple[str, int]]:
    """Link targets written in `markdown` outside code, with their 0-based line in it."""
    if "](" not in markdown and "]:" not in markdown:
        return []
    text = _blanked(_FENCED, markdown, _fence_lines(markdown))
    text = _blanked(_CODE_SPAN, text, _occurrences(text, "`"))
    found = [(m.start(1), m.group(1)) for m in _INLINE_LINK.finditer(text)]
    if "]:" in text:
        definitions = (_REFERENCE.match(text, start) for start in _line_starts(text, "]:"))
        found += sorted((m.start(1), m.group(1)) for m in definitions if m is not None)
        found.sort()
    return list(zip([target for _, target in found], _lines(text, [offset for offset, _ in found]), strict=True))


# Python's `re` tries a pattern that starts without a literal at every position of the text, which costs
# about as much as the rest of parsing a file; these find the few places where one can match with `str.find`.


def _occurrences(text: str, needle: str) -> list[int]:
    found, at = [], text.find(needle)
    while at != -1:
        found.append(at)
        at = text.find(needle, at + 1)
    return found


def _line_starts(text: str, needle: str) -> list[int]:
    """The start of each line holding `needle`, in order."""
    return sorted({text.rfind("\n", 0, at) + 1 for at in _occurrences(text, needle)})


def _fence_lines(text: str) -> list[int]:
    """The start of each line that may open a code fence: at most three spaces, then ``` or ~~~."""
    starts = {start for needle in ("```", "~~~") for start in _line_starts(text, needle)}
    return sorted(start for start in starts if text[start:start + 6].lstrip(" ")[:3] in ("```", "~~~"))


def _blanked(pattern: re.Pattern[str], text: str, starts: list[int]) -> str:
    """`pattern.sub(_blank, text)`, trying only `starts`: the only places where `pattern` can match."""
    pieces: list[str] = []
    done = 0
    for start in starts:
        match = pattern.match(text, start) if start >= done else None
        if match is not None:
            pieces += [text[done:start], _blank(match)]
            done = match.end()
    return "".join(pieces) + text[done:] if pieces else text


def _lines(text: str, offsets: list[int]) -> list[int]:
    """The 0-based line of each of the (ascending) `offsets` in `text`."""
    lines, line, previous = [], 0, 0
    for offset in offsets:
        line += text.count("\n", previous, offset)
        lines.append(line)
        previous = offset
    return lines


def _blank(match: re.Match[str]) -> str:
    """Replace code with as many newlines as it spans, so line numbers still add up."""
    return "\n" * match.group(0).count("\n")


def content_links(from_path: str, markdown: str) -> list[tuple[str, int, str]]:
    """The relative links to content files in `markdown`: (as written, 0-based line, content path)."""
    found = []
    for target, line in link_targets(markdown):
        path = content_target(from_path, target)
        if path is not None:
            found.append((target, line, path))
    return found


def content_target(from_path: str, target: str) -> str | None:
    """The content-relative path a relative `.md` link points at, or None if it is no such link.

    A link that climbs out of the content directory keeps its leading `..`,
    so it never matches a content file.
    """
    if _SCHEME.match(target) or target.startswith(("#", "/", "//")):
        return None
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    if not path.endswith(".md"):
        return None
    return posixpath.normpath(posixpath.join(posixpath.dirname(from_path), path))


def public_url(source: Source) -> str:
    """Where the public site shows an entry."""
    if source.kind is Kind.LESSON:
        return f"/courses/{source.course}/lessons/{source.slug}"
    if source.kind is Kind.SECTION:
        return f"/courses/{source.course}/sections/{source.slug}"
    folders = {Kind.COURSE: "courses", Kind.PROJECT: "projects", Kind.AUTHOR: "authors", Kind.PATH: "paths",
               Kind.MEDIA: "media"}
    return f"/{folders[source.kind]}/{source.slug}"


def fragment(target: str) -> str:
    """The `#fragment` of a link target, or ''."""
    return "#" + target.split("#", 1)[1] if "#" in target else ""
