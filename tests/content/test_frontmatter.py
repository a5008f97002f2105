"""cms.content.frontmatter: bytes → text → front matter + body, with the line and column of every field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cms.content.frontmatter import decode, dump_markdown, load_data_file, load_markdown

LESSON = b"""---
title: Branches
objectives:
  - Create a branch
  - Switch between branches
videos:
  - url: https://videos.example.com/a.mp4
    end_time_seconds: 60
---
## Branches

Text.
"""


def rules(loaded) -> list[tuple[str, int | None]]:  # type: ignore[no-untyped-def]
    return [(problem.rule, problem.line) for problem in loaded.problems]


def test_load_markdown_splits_front_matter_and_body() -> None:
    loaded = load_markdown(LESSON, "lesson.md")

    assert loaded.problems == []
    assert loaded.data == {
        "title": "Branches", "objectives": ["Create a branch", "Switch between branches"],
        "videos": [{"url": "https://videos.example.com/a.mp4", "end_time_seconds": 60}]}
    assert loaded.body == "## Branches\n\nText.\n"
    assert loaded.body_line == 10


def test_marks_point_at_keys_and_list_items() -> None:
    marks = load_markdown(LESSON, "lesson.md").marks

    assert marks[("title",)] == (2, 1)
    assert marks[("objectives",)] == (3, 1)
    assert marks[("objectives", 0)] == (4, 5)
    assert marks[("objectives", 1)] == (5, 5)
    assert marks[("videos", 0)] == (7, 5)
    assert marks[("videos", 0, "url")] == (7, 5)
    assert marks[("videos", 0, "end_time_seconds")] == (8, 5)


def test_marks_in_flow_collections() -> None:
    marks = load_markdown(b"---\ntags: [a, bb, ccc]\n---\n", "x.md").marks
    assert [marks[("tags", index)] for index in range(3)] == [(2, 8), (2, 11), (2, 15)]


def test_data_file_lines_start_at_one() -> None:
    loaded = load_data_file(b"- slug: a\n  name: A\n- slug: b\n  name: B\n", "categories.yml")

    assert loaded.data == [{"slug": "a", "name": "A"}, {"slug": "b", "name": "B"}]
    assert loaded.marks[(1, "name")] == (4, 3)
    assert loaded.body == ""


def test_empty_front_matter_is_an_empty_mapping() -> None:
    loaded = load_markdown(b"---\n---\n", "x.md")
    assert (loaded.data, loaded.body, loaded.problems) == ({}, "", [])
    assert load_markdown(b"---\n\n---\nBody\n", "x.md").data == {}
    assert load_markdown(b"---\n# only a comment\n---\n", "x.md").data == {}


def test_closing_fence_at_end_of_file_without_newline() -> None:
    loaded = load_markdown(b"---\ntitle: T\n---", "x.md")
    assert (loaded.data, loaded.body, loaded.problems) == ({"title": "T"}, "", [])


def test_fence_lines_may_have_trailing_spaces() -> None:
    loaded = load_markdown(b"--- \ntitle: T\n---\t\nBody\n", "x.md")
    assert (loaded.data, loaded.body) == ({"title": "T"}, "Body\n")


def test_crlf_line_endings() -> None:
    loaded = load_markdown(b"---\r\ntitle: Windows\r\ntags:\r\n  - a\r\n---\r\nBody\r\nmore\r\n", "x.md")

    assert loaded.problems == []
    assert loaded.data == {"title": "Windows", "tags": ["a"]}
    assert loaded.body == "Body\r\nmore\r\n"
    assert loaded.body_line == 6
    assert loaded.marks[("tags", 0)] == (4, 5)


def test_byte_order_mark_is_dropped() -> None:
    loaded = load_markdown("\ufeff---\ntitle: Bom\n---\nBody\n".encode(), "x.md")
    assert (loaded.data, loaded.problems) == ({"title": "Bom"}, [])
    assert loaded.marks[("title",)] == (2, 1)
    assert decode("\ufeffa: 1\n".encode(), "x.yml") == ("a: 1\n", [])
    assert load_data_file("\ufeffpublic_id: x\n".encode(), "x.yml").data == {"public_id": "x"}


@pytest.mark.parametrize(("raw", "line", "found"), [
    (b"ok\nstill ok\nbad \xff here\n", 3, "byte 0xff"),
    (b"caf\xc3", 1, "byte 0xc3"),                 # cut in the middle of a character
    (b"line\n\n\nnul \x00\n", 4, "NUL (0x00)"),
    (b"\x00\xff", 1, "NUL (0x00)"),                # NUL wins over bad UTF-8
])
def test_decode_names_the_line_of_the_bad_byte(raw: bytes, line: int, found: str) -> None:
    text, problems = decode(raw, "x.md")
    assert text is None
    assert [(p.rule, p.line, p.found) for p in problems] == [("encoding", line, found)]


def test_decode_accepts_utf8() -> None:
    assert decode("Grüße, 世界\n".encode(), "x.md") == ("Grüße, 世界\n", [])


@pytest.mark.parametrize(("raw", "rule"), [
    (b"+++\ntitle = 'x'\n+++\n", "frontmatter-format"),
    (b'{"title": "x"}\n', "frontmatter-format"),
    (b"title: x\n---\n", "frontmatter-missing"),
    (b"", "frontmatter-missing"),
    (b"----\ntitle: x\n----\n", "frontmatter-missing"),
    (b"---\ntitle: x\n", "frontmatter-unclosed"),
    (b"---\ntitle: x\n--- not a fence\n", "frontmatter-unclosed"),
])
def test_front_matter_shape_problems(raw: bytes, rule: str) -> None:
    loaded = load_markdown(raw, "x.md")
    assert loaded.data is None
    assert rules(loaded) == [(rule, 1)]


@pytest.mark.parametrize(("yaml_text", "rule", "line", "column"), [
    ("title: &a x\n", "yaml-anchor", 2, 8),
    ("title: *a\n", "yaml-alias", 2, 8),
    ("title: !!python/object/apply:os.system [ls]\n", "yaml-tag", 2, 8),
    ("title: !!binary aGVsbG8=\n", "yaml-tag", 2, 8),
    ("title: !custom x\n", "yaml-tag", 2, 8),
    ("title: !!str x\n", "yaml-tag", 2, 8),
    ("title: a\ntitle: b\n", "yaml-duplicate-key", 3, 1),
    ("videos:\n  - url: a\n    url: b\n", "yaml-duplicate-key", 4, 5),
    ("1: one\n", "yaml-key", 2, 1),
    ("title: t\nno: false\n", "yaml-key", 3, 1),
    ("~: nothing\n", "yaml-key", 2, 1),
    ("? [a, b]\n: list key\n", "yaml-key", 2, 3),
    ("<<: {title: t}\n", "yaml-merge", 2, 1),
    ("title: [a\n", "yaml-syntax", 3, 1),
    ("title: 'open\n", "yaml-syntax", 3, 1),
    ("\ttitle: tab\n", "yaml-syntax", 2, 1),
])
def test_only_plain_yaml_is_accepted(yaml_text: str, rule: str, line: int, column: int) -> None:
    loaded = load_markdown(f"---\n{yaml_text}---\nBody\n".encode(), "x.md")
    assert loaded.data is None
    assert [(p.rule, p.line, p.column) for p in loaded.problems] == [(rule, line, column)]


def test_markers_inside_text_are_plain_text() -> None:
    loaded = load_markdown(b"---\ntitle: Rock & Roll *live* !now\nquote: '&anchor *alias !tag'\n---\n", "x.md")
    assert loaded.problems == []
    assert loaded.data == {"title": "Rock & Roll *live* !now", "quote": "&anchor *alias !tag"}


def test_yaml_scalars_become_python_values() -> None:
    loaded = load_data_file(b"n: 3\nf: 1.5\nb: true\nnothing: null\nwhen: 2025-01-02T03:04:05Z\nday: 2025-01-02\n",
                            "x.yml")
    assert loaded.data["n"] == 3 and loaded.data["f"] == 1.5 and loaded.data["b"] is True
    assert loaded.data["nothing"] is None
    assert loaded.data["when"] == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert str(loaded.data["day"]) == "2025-01-02"


ROUND_TRIP = [
    {"title": "Plain"},
    {"title": "Colons: and # hashes", "description": "yes", "tags": ["no", "on", "null", "1.0", "007"]},
    {"title": "Unicode — Grüße 世界", "objectives": ["'quoted'", '"double"', "- dash", "* star", "& amp", "!bang"]},
    {"title": "Multi\nline\n---\ntext", "price": 9.5, "featured": False, "duration_minutes": 0},
    {"title": "Nested", "videos": [{"url": "https://x.example/a.mp4", "start_time_seconds": 5}],
     "ai": {"model": "m", "generated_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)}},
    {},
]


@pytest.mark.parametrize("data", ROUND_TRIP)
@pytest.mark.parametrize("body", ["", "Body\n", "---\nnot front matter\n", "## Heading\n\n```\n---\n```\n"])
def test_dump_markdown_round_trips(data: dict[str, object], body: str) -> None:
    text = dump_markdown(data, body)
    assert text.startswith("---\n")

    loaded = load_markdown(text.encode("utf-8"), "x.md")

    assert loaded.problems == []
    assert loaded.data == data
    assert loaded.body == body
