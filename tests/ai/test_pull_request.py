"""The pull request's title and description: rendered by a CommonMark renderer (markdown-it-py, with GFM
tables and strikethrough), what a person or a model wrote shows as typed and mentions nobody."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from cms.ai import pull_request as pr_body
from cms.ai.pull_request import ZERO_WIDTH_SPACE, DraftReview

HOSTILE_BRIEF = """# Not a heading
- not a list
  > not a quote
```
not code
```
<img src=x onerror=alert(1)> <!-- hidden -->
@everyone and @org/team, see #12, !3, ~bug, %v1 and &4
| a | b |
|---|---|
1. not numbered
    not indented code
===
![not an image](http://x.example/i.png) [not a link](javascript:alert(1))
~~not struck~~ $not math$ {+not inserted+} **not bold** _not em_ &amp; &#64;user \\ back\\"""

REVIEW = DraftReview(course="python", lesson="fixtures", title="Fixtures </details> @alice #12 **bold** [x](http://e)",
                     path="content/courses/python/01-basics/03-fixtures.md", branch="drafts/python/fixtures",
                     model="gemini`2.5", prompt_sha256="0f" * 32, brief=HOSTILE_BRIEF,
                     preview_url="https://cms.example.com/preview/python/fixtures?ref=drafts/python/fixtures&v=(2)")


def rendered(markdown: str) -> str:
    page: str = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    return page


def test_the_title_is_one_line_after_the_lesson_and_mentions_nobody() -> None:
    assert pr_body.title(REVIEW) == ("Lesson draft: Fixtures </details> @\u200balice #\u200b12 **bold** [x](http://e)")
    assert pr_body.title(DraftReview(**{**vars(REVIEW), "title": "Draft: a\nb\tc\x07"})) == "Lesson draft: Draft: a b c"
    long = pr_body.title(DraftReview(**{**vars(REVIEW), "title": "word " * 100}))
    assert len(long) <= pr_body.TITLE_MAX and long.endswith("word…")


def test_the_body_renders_only_its_own_structure() -> None:
    page = rendered(pr_body.body(REVIEW))

    tags = set(re.findall(r"<([a-z0-9]+)", page))
    assert tags == {"h2", "h3", "p", "strong", "code", "a", "ul", "li", "blockquote", "br"}
    assert page.count("<a ") == 1 and page.count("<strong>") == 7  # "Preview:" and the six provenance names
    assert re.findall(r"<a href=\"([^\"]*)\"", page) == [
        "https://cms.example.com/preview/python/fixtures?ref=drafts/python/fixtures&amp;v=%282%29"]


def test_the_brief_shows_as_typed_line_by_line() -> None:
    page = rendered(pr_body.body(REVIEW))

    quoted = re.search(r"<blockquote>\n<p>(.*?)</p>\n</blockquote>", page, re.DOTALL)
    assert quoted is not None
    text = html.unescape(quoted.group(1).replace("<br />\n", "\n")).replace(ZERO_WIDTH_SPACE, "")
    assert text == "\n".join(line.strip() for line in HOSTILE_BRIEF.split("\n"))


def test_nothing_written_by_a_person_or_a_model_mentions_or_references() -> None:
    page = html.unescape(re.sub(r"<[^>]+>", " ", rendered(pr_body.body(REVIEW))))

    assert not re.findall(r"(?<![\w`])[@#!%~$&][\w\"]", page.replace("http://", "").replace("https://", ""))
    assert "@\u200beveryone" in page and "#\u200b12" in page


def test_the_provenance_is_exact_in_code_spans() -> None:
    page = rendered(pr_body.body(REVIEW))

    for value in ("python", "fixtures", REVIEW.path, REVIEW.branch, "gemini`2.5", "0f" * 32):
        assert f"<code>{html.escape(value, quote=False)}</code>" in page


@pytest.mark.parametrize(("brief", "expected"), [(None, "No brief"), ("  \n\n ", "No brief"),
                                                 ("one\n\n\ntwo", "> one\n>\n> two")])
def test_briefs_and_paragraphs(brief: str | None, expected: str) -> None:
    assert expected in pr_body.body(DraftReview(**{**vars(REVIEW), "brief": brief}))


def test_without_a_preview_the_body_says_where_to_look() -> None:
    assert "No preview link" in pr_body.body(DraftReview(**{**vars(REVIEW), "preview_url": None}))


@pytest.mark.parametrize(("field", "value"), [("prompt_sha256", "not-a-hash"), ("prompt_sha256", "0F" * 32),
                                              ("preview_url", "javascript:alert(1)"),
                                              ("preview_url", "https://x.example/a b"),
                                              ("preview_url", "https://x.example/\n")])
def test_malformed_provenance_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValueError):
        pr_body.body(DraftReview(**{**vars(REVIEW), field: value}))
