"""The renderer's second wall: URL safety, and an HTML allow-list that re-parses whatever the parser made.

nh3 (ammonia) keeps only an allow-list of tags, attributes, attribute
values (table alignment, `rel`) and URL schemes; every href/src must also
pass `is_safe_url`, every id starts with `h-` and a code class must look
like `language-x`. On the renderer's own output it changes nothing but
serialisation; it is there so that a bug in the parser is not an XSS.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import nh3

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
HEADING_ID_PREFIX = "h-"
EXTERNAL_LINK_REL = "noopener noreferrer"

# --------------------------------------------------------------------------
# URL safety
# --------------------------------------------------------------------------

_MAX_DECODE_ROUNDS = 4
# Characters a browser ignores or strips inside a URL, or that only hide
# things: ASCII controls and space, C1 controls, Unicode spaces and the
# invisible formatting characters (soft hyphen, zero-width, bidi controls).
_INVISIBLE_RE = re.compile(
    "[\\s\x00-\x20\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]+"
)
# Anything before the first ':' that comes before any '/', '?' or '#' is a
# scheme (or an attempt at one): judged against the allow-list.
_SCHEME_RE = re.compile(r"([^/?#:]*):")
_PLAIN_SAFE_URL_RE = re.compile(r"(?:[Hh][Tt][Tt][Pp][Ss]?://)?[A-Za-z0-9/._~#?=+-]*")
"""No entity, no percent-escape, no colon past an http(s) prefix, nothing invisible: such a URL decodes to
itself and has no other scheme, so it is safe without the work below (most URLs in lessons are like this)."""


def is_safe_url(url: str) -> bool:
    """True for http, https, mailto and relative URLs; False for anything else.

    The URL is decoded first (HTML entities and percent-encoding, repeatedly)
    and stripped of whitespace and invisible characters anywhere, so
    ``&#106;ava&#x09;script%3A`` is judged as ``javascript:``.
    """
    if _PLAIN_SAFE_URL_RE.fullmatch(url):
        return True
    decoded = _fully_decoded(url)
    if decoded is None:
        return False
    canonical = _INVISIBLE_RE.sub("", decoded).lower()
    match = _SCHEME_RE.match(canonical)
    return match is None or match.group(1) in SAFE_SCHEMES


def _fully_decoded(url: str) -> str | None:
    """Undo entity and percent encoding until stable; None if it never is."""
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(html.unescape(url))
        if decoded == url:
            return url
        url = decoded
    return None


def has_scheme(url: str) -> bool:
    """Whether `url` starts with a scheme (or an attempt at one): `x:` before any `/`, `?` or `#`."""
    return _SCHEME_RE.match(url) is not None


# --------------------------------------------------------------------------
# The allow-list
# --------------------------------------------------------------------------

_CODE_CLASS_RE = re.compile(r"language-[A-Za-z0-9_+-]+")
_HEADING_TAGS = frozenset(f"h{level}" for level in range(1, 7))
_ALLOWED_TAGS = {
    "p", "a", "img", "ul", "ol", "li", "pre", "code", "blockquote", "em",
    "strong", "s", "del", "table", "thead", "tbody", "tr", "th", "td", "hr",
    "br", *_HEADING_TAGS,
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "ol": {"start"},
    **{tag: {"id"} for tag in _HEADING_TAGS},
}
# Exact values only: markdown-it writes table alignment as one of these
# three styles, and no other CSS may reach the page.
_ALIGN_STYLES = {f"text-align:{side}" for side in ("left", "center", "right")}
_ALLOWED_ATTRIBUTE_VALUES = {
    "a": {"rel": {EXTERNAL_LINK_REL}},
    "th": {"style": _ALIGN_STYLES},
    "td": {"style": _ALIGN_STYLES},
}
_URL_ATTRIBUTES = frozenset({"href", "src"})


def _checked_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Hold wall 2 to wall 1's rules for URLs and code classes (None drops it).

    ammonia's own scheme check follows browsers exactly; this applies
    :func:`is_safe_url`, which is stricter (it decodes before judging).
    """
    if attribute in _URL_ATTRIBUTES:
        return value if is_safe_url(value) else None
    if attribute == "class":
        return value if _CODE_CLASS_RE.fullmatch(value) else None
    return value


def _build_sanitizer() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        tag_attribute_values=_ALLOWED_ATTRIBUTE_VALUES,
        attribute_filter=_checked_attribute,
        url_schemes=set(SAFE_SCHEMES),
        link_rel=None,
        id_prefix=HEADING_ID_PREFIX,
        strip_comments=True,
    )


_SANITIZER = _build_sanitizer()


def sanitize(markup: str) -> str:
    """Wall 2 alone: the allow-list sanitizer."""
    return _SANITIZER.clean(markup)
