"""cms.index.rendering: fixture pairs, the XSS corpus, URL safety, reading time.

Fixture pairs live in tests/fixtures/rendering/: NAME.md renders (with
``fixture_resolver``) to exactly NAME.html; an optional NAME.toc.json holds
the expected table of contents.

The XSS corpus (xss.txt, payloads separated by a line ``%%%``) is audited
three ways: the full renderer, wall 1 alone (comrak and our rewrites,
before the sanitizer) and wall 2 alone (the sanitizer behind comrak set to
pass raw HTML and every URL through). Each wall must hold by itself.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import comrak
import msgspec
import pytest

from cms.index import rendering, sanitizer
from cms.index.rendering import Rendered, TocEntry, is_safe_url, reading_time_minutes, render

FIXTURES = Path(__file__).parents[1] / "fixtures" / "rendering"
FIXTURE_SOURCES = sorted(FIXTURES.glob("*.md"))
TOC_FILES = sorted(FIXTURES.glob("*.toc.json"))


def fixture_resolver(target: str) -> str | None:
    """'../02-x/03-y.md#part' → '/learn/y#h-part'; None for anything not a .md file."""
    path, _, fragment = target.partition("#")
    if not path.endswith(".md"):
        return None
    slug = path.rsplit("/", 1)[-1].removesuffix(".md").split("-", 1)[-1]
    return f"/learn/{slug}" + (f"#h-{fragment}" if fragment else "")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------
# Fixture pairs
# --------------------------------------------------------------------------


@pytest.mark.parametrize("source", FIXTURE_SOURCES, ids=lambda path: path.stem)
def test_fixture_renders_to_expected_html(source: Path) -> None:
    rendered = render(_read(source), fixture_resolver)
    assert rendered.html == _read(source.with_suffix(".html"))


@pytest.mark.parametrize("toc_file", TOC_FILES, ids=lambda path: path.name)
def test_fixture_table_of_contents(toc_file: Path) -> None:
    source = toc_file.with_name(toc_file.name.removesuffix(".toc.json") + ".md")
    expected = [TocEntry(**entry) for entry in json.loads(_read(toc_file))]
    assert render(_read(source)).toc == expected


def test_fixture_directory_covers_the_required_cases() -> None:
    names = {path.stem for path in FIXTURE_SOURCES}
    required = {"headings", "table", "strikethrough", "fenced_code", "raw_html"}
    assert required | {"relative_links", "in_page_anchor"} <= names


# --------------------------------------------------------------------------
# Behaviour not pinned by a fixture
# --------------------------------------------------------------------------


def test_render_returns_a_msgspec_struct() -> None:
    rendered = render("## A *b*\n\nOne two `three`.\n\n```\nfour five\n```\n")
    assert isinstance(rendered, Rendered)
    assert rendered.toc == [TocEntry(level=2, id="h-a-b", title="A b")]
    assert rendered.words == 7
    assert msgspec.json.decode(msgspec.json.encode(rendered), type=Rendered) == rendered


def test_empty_document() -> None:
    assert render("") == Rendered(html="", toc=[], words=0)


def test_without_resolver_relative_links_are_kept() -> None:
    assert render("[a](../01-x/02-y.md)").html == '<p><a href="../01-x/02-y.md">a</a></p>\n'


def test_resolver_sees_targets_as_written_and_never_images() -> None:
    seen: list[str] = []

    def resolver(target: str) -> str | None:
        seen.append(target)
        return None

    markdown = "[a](<../my file.md#part>) [b](x.md) ![c](y.md) [d](#z) [e](/abs) [f](https://x.org)"
    render(markdown, resolver)
    assert seen == ["../my file.md#part", "x.md"]


def test_resolver_answer_is_normalised_and_must_be_safe() -> None:
    answers = {"a.md": "javascript:alert(1)", "b.md": "/learn/café page"}
    rendered = render("[a](a.md) [b](b.md)", answers.get)
    assert rendered.html == (
        '<p><a href="a.md">a</a> <a href="/learn/caf%C3%A9%20page">b</a></p>\n'
    )


def test_only_absolute_web_links_get_rel() -> None:
    html_out = render("[a](http://x.org) [b](HTTPS://x.org) [c](/x) [d](mailto:a@b.c)").html
    assert html_out.count('rel="noopener noreferrer"') == 2


def test_the_options_are_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("render() must not build comrak options")

    for options in ("ExtensionOptions", "ParseOptions", "RenderOptions"):
        monkeypatch.setattr(comrak, options, refuse)
    assert render("# ok").html == '<h1 id="h-ok">ok</h1>\n'


def test_an_error_in_the_resolver_is_raised_not_swallowed() -> None:
    def broken(target: str) -> str | None:
        raise LookupError(target)

    with pytest.raises(LookupError):
        render("[a](x.md)", broken)


def test_an_unclosed_raw_html_opener_does_not_take_the_rest_of_the_body() -> None:
    for opener in ("<!--", "<script>", "<pre>", "<?php", "<![CDATA[", "<!DOCTYPE"):
        rendered = render(f"{opener} never closed\n\n## After\n\n*Text*\n")
        assert rendered.toc == [TocEntry(level=2, id="h-after", title="After")], opener
        assert "<em>Text</em>" in rendered.html


def test_a_closed_raw_html_block_at_the_end_stays_whole() -> None:
    assert render("<pre>\n*x*\n</pre>\n").html == "<p>&lt;pre&gt;\n*x*\n&lt;/pre&gt;</p>\n"


def test_plain_text_is_the_words_without_markup() -> None:
    rendered = render("# Title\n\nSome **bold**, `code` and ![an image](i.png) &amp; more.\n\n- a\n- b\n")
    assert rendered.text == "Title Some bold, code and an image & more. a b"
    assert rendered.words == len(rendered.text.split())


# --------------------------------------------------------------------------
# The XSS corpus
# --------------------------------------------------------------------------

# The test's own allow-list, written out independently of the module's.
ALLOWED_TAGS = frozenset(
    ["p", "h1", "h2", "h3", "h4", "h5", "h6", "a", "img", "ul", "ol", "li", "pre", "code", "blockquote", "em",
     "strong", "s", "del", "table", "thead", "tbody", "tr", "th", "td", "hr", "br"]
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "rel"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
    **{f"h{level}": {"id"} for level in range(1, 7)},
}
ALIGN_STYLES = {"text-align:left", "text-align:center", "text-align:right"}
CODE_CLASS_RE = re.compile(r"language-[A-Za-z0-9_+-]+")
DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:", "file:")
INVISIBLE_RE = re.compile(r"[\s\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2060\ufeff]")


def load_payloads() -> list[str]:
    payloads = re.split(r"^%%%\n", _read(FIXTURES / "xss.txt"), flags=re.MULTILINE)
    return [payload for payload in payloads if payload.strip()]


XSS_PAYLOADS = load_payloads()


def _dangerous_scheme(url: str) -> bool:
    """An independent second opinion on is_safe_url (which the audit also uses)."""
    for _ in range(5):
        url = unquote(html.unescape(url))
    return INVISIBLE_RE.sub("", url).lower().startswith(DANGEROUS_SCHEMES)


class MarkupAudit(HTMLParser):
    """Collects every way a piece of HTML breaks the output contract."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            self._check_attribute(tag, name, value or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"end tag </{tag}>")

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment <!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration <!{decl}>")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"declaration <![{data}]>")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction <?{data}>")

    def _check_attribute(self, tag: str, name: str, value: str) -> None:
        where = f"<{tag} {name}={value!r}>"
        if name.startswith("on") or name not in ALLOWED_ATTRIBUTES.get(tag, set()):
            self.problems.append(f"attribute {where}")
        elif name in ("href", "src"):
            if not is_safe_url(html.unescape(value)) or _dangerous_scheme(value):
                self.problems.append(f"unsafe url {where}")
        elif name == "style" and value not in ALIGN_STYLES:
            self.problems.append(f"style {where}")
        elif name == "id" and not value.startswith("h-"):
            self.problems.append(f"unprefixed id {where}")
        elif name == "class" and not CODE_CLASS_RE.fullmatch(value):
            self.problems.append(f"class {where}")
        elif name == "rel" and value != "noopener noreferrer":
            self.problems.append(f"rel {where}")


def audit(markup: str) -> list[str]:
    auditor = MarkupAudit()
    auditor.feed(markup)
    auditor.close()
    return auditor.problems


def _payload_ids() -> Iterator[str]:
    for number, payload in enumerate(XSS_PAYLOADS, start=1):
        yield f"{number:02d}-{payload.splitlines()[0][:40]}"


def _unsafe_render(markdown: str) -> str:
    """comrak with raw HTML passed through and every URL kept: the sanitizer must hold on its own."""
    extension = comrak.ExtensionOptions()
    extension.table = True
    extension.strikethrough = True
    options = comrak.RenderOptions()
    options.unsafe_ = True
    return comrak.render_markdown(markdown, extension, None, options)


def test_the_corpus_is_big_enough() -> None:
    assert len(XSS_PAYLOADS) >= 40


@pytest.mark.parametrize(
    "markup",
    [
        "<script>alert(1)</script>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<img src="data:text/html,x">',
        '<p onclick="x">x</p>',
        '<td style="color:red">x</td>',
        '<h2 id="location">x</h2>',
        '<code class="x" onmouseover="y">x</code>',
        '<a href="/" rel="opener">x</a>',
        "<!-- x -->",
    ],
)
def test_the_audit_catches_bad_markup(markup: str) -> None:
    assert audit(markup)


@pytest.mark.parametrize("payload", XSS_PAYLOADS, ids=list(_payload_ids()))
def test_xss_payload_is_neutralised(payload: str) -> None:
    assert audit(render(payload, fixture_resolver).html) == []


@pytest.mark.parametrize("payload", XSS_PAYLOADS, ids=list(_payload_ids()))
def test_xss_payload_wall_1_comrak_alone(payload: str) -> None:
    env = {"resolve_link": fixture_resolver}
    assert audit(rendering._render_markup(payload, env)) == []


@pytest.mark.parametrize("payload", XSS_PAYLOADS, ids=list(_payload_ids()))
def test_xss_payload_wall_2_sanitizer_alone(payload: str) -> None:
    assert audit(sanitizer.sanitize(_unsafe_render(payload))) == []


# --------------------------------------------------------------------------
# is_safe_url and reading_time_minutes
# --------------------------------------------------------------------------

SAFE_URLS = [
    "http://example.com",
    "https://example.com/a?b=1#c",
    "HTTPS://EXAMPLE.COM",
    "mailto:someone@example.com",
    "#fragment",
    "#",
    "",
    "/absolute/path",
    "//cdn.example.com/x.js",
    "../02-x/03-y.md#part",
    "03-y.md",
    "./a/b%20c.png",
    "?query=1",
    "path/with:colon-after-slash",
    "https://example.com/javascript:x",
]
UNSAFE_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\tjavascript:alert(1)",
    "\njavascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "java\x00script:alert(1)",
    "\x01javascript:alert(1)",
    "java\u200bscript:alert(1)",
    "javascript\u00a0:alert(1)",
    "&#106;avascript:alert(1)",
    "&#x6A;avascript:alert(1)",
    "&#0000106avascript:alert(1)",
    "javascript&colon;alert(1)",
    "javascript&#58;alert(1)",
    "java&Tab;script:alert(1)",
    "javascript%3Aalert(1)",
    "%6A%61%76%61%73%63%72%69%70%74:alert(1)",
    "javascript%253Aalert(1)",
    "%26%23106%3Bavascript:alert(1)",
    "vbscript:msgbox(1)",
    "VBScript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:image/png;base64,AAAA",
    "file:///etc/passwd",
    "ftp://example.com",
    "tel:+123",
    "livescript:x",
    "x:y",
    "%252525252525",
]


@pytest.mark.parametrize("url", SAFE_URLS)
def test_safe_urls(url: str) -> None:
    assert is_safe_url(url)


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_unsafe_urls(url: str) -> None:
    assert not is_safe_url(url)


@pytest.mark.parametrize(
    ("words", "minutes"),
    [(0, 0), (-3, 0), (1, 1), (199, 1), (200, 1), (201, 2), (400, 2), (401, 3), (10_000, 50)],
)
def test_reading_time_minutes(words: int, minutes: int) -> None:
    assert reading_time_minutes(words) == minutes


def test_repeated_headings_are_numbered_from_2_whatever_came_before() -> None:
    ids = [entry.id for entry in render("# a\n# a\n# a\n# a-2\n# A 2\n## a\n# b\n# a\n").toc]
    assert ids == ["h-a", "h-a-2", "h-a-3", "h-a-2-2", "h-a-2-3", "h-a-4", "h-b", "h-a-5"]


def test_many_identical_headings_take_linear_time() -> None:
    """100 KB of `# a` once took minutes (each id tried every number before it) while holding the write lock."""
    count = 25_000
    started = time.perf_counter()
    rendered = render("# a\n" * count)
    elapsed = time.perf_counter() - started
    assert [entry.id for entry in rendered.toc] == ["h-a", *(f"h-a-{n}" for n in range(2, count + 1))]
    assert elapsed < 5, f"{count} headings took {elapsed:.1f} s"
