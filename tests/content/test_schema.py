"""content.schema.json: current, valid draft 2020-12, and agreeing with the validator on real and bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from cms.cli import main
from cms.content.frontmatter import load_data_file, load_markdown
from cms.content.sources import Kind, Source, classify
from tests.conftest import EXAMPLE_CONTENT, SITE

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "content.schema.json"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
DEFINITIONS = {Kind.COURSE: "Course", Kind.SECTION: "Section", Kind.LESSON: "Lesson", Kind.PROJECT: "Project",
               Kind.AUTHOR: "Author", Kind.PATH: "LearningPath", Kind.MEDIA: "Media", Kind.CATEGORIES: "Categories"}
TREES = {"example": EXAMPLE_CONTENT, "site": SITE / "content"}


def check_jsonschema(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK_JSONSCHEMA), *map(str, args)], capture_output=True, text=True, timeout=60)


def wrapper_schema(tmp_path: Path, definition: str) -> Path:
    """A schema file that is just `content.schema.json#/$defs/<definition>`, by absolute file URI."""
    path = tmp_path / f"{definition}.schema.json"
    path.write_text(json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema",
                                "$ref": f"{SCHEMA_FILE.as_uri()}#/$defs/{definition}"}))
    return path


def validator(definition: str) -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return Draft202012Validator({"$schema": schema["$schema"], "$defs": schema["$defs"],
                                 "$ref": f"#/$defs/{definition}"})


def as_json(value: Any) -> Any:
    """Front matter as an editor's JSON view sees it: dates and times as ISO strings."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, (date, datetime)) else v))


def content_files(*suffixes: str) -> list[tuple[Path, str]]:
    return [(path, rel) for tree in TREES.values() for path in sorted(tree.rglob("*"))
            if path.suffix in suffixes for rel in [path.relative_to(tree).as_posix()]]


def test_checked_in_schema_is_current() -> None:
    result = CliRunner().invoke(main, ["schema", "--check", "--output", str(SCHEMA_FILE)])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


@pytest.mark.parametrize("change", [
    lambda text: text.replace('"maxLength": 255', '"maxLength": 256', 1),
    lambda text: text.rstrip("\n"),
    lambda text: json.dumps(json.loads(text)),
])
def test_stale_schema_fails_the_check(tmp_path: Path, change: Any) -> None:
    stale = tmp_path / "content.schema.json"
    stale.write_text(change(SCHEMA_FILE.read_text(encoding="utf-8")), encoding="utf-8")

    result = CliRunner().invoke(main, ["schema", "--check", "--output", str(stale)])

    assert result.exit_code != 0
    assert "stale" in result.output


def test_missing_schema_fails_the_check(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schema", "--check", "--output", str(tmp_path / "none.json")])
    assert result.exit_code != 0


def test_schema_command_writes_what_check_accepts(tmp_path: Path) -> None:
    output = tmp_path / "content.schema.json"
    assert CliRunner().invoke(main, ["schema", "--output", str(output)]).exit_code == 0
    assert output.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    result = check_jsonschema("--check-metaschema", SCHEMA_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("definition", "suffix"), [("Media", "media/*.yml"), ("Categories", "categories.yml")])
def test_data_files_validate_with_check_jsonschema(tmp_path: Path, definition: str, suffix: str) -> None:
    files = [path for tree in TREES.values() for path in sorted(tree.glob(suffix))]
    assert len(files) >= (2 if definition == "Categories" else 5)

    result = check_jsonschema("--schemafile", wrapper_schema(tmp_path, definition), *files)

    assert result.returncode == 0, result.stdout + result.stderr


def test_check_jsonschema_rejects_bad_media(tmp_path: Path) -> None:
    (tmp_path / "no-alt.yml").write_text("public_id: x\nresource_type: image\nsecure_url: https://res.example.com/x.png\n")
    (tmp_path / "http.yml").write_text("public_id: x\nresource_type: raw\nsecure_url: http://res.example.com/x.pdf\n")
    good = SITE / "content" / "media" / "demo-video.yml"

    result = check_jsonschema("--schemafile", wrapper_schema(tmp_path, "Media"), "--output-format", "json",
                              tmp_path / "no-alt.yml", tmp_path / "http.yml", good)

    assert result.returncode == 1
    failed = {Path(error["filename"]).name for error in json.loads(result.stdout)["errors"]}
    assert failed == {"no-alt.yml", "http.yml"}


@pytest.mark.parametrize(("path", "rel"), content_files(".md", ".yml"), ids=lambda value: str(value))
def test_every_file_validates_against_its_definition(path: Path, rel: str) -> None:
    source = classify(rel)
    assert isinstance(source, Source), source
    raw = path.read_bytes()
    loaded = load_data_file(raw, rel) if path.suffix == ".yml" else load_markdown(raw, rel)
    assert loaded.problems == []

    errors = [error.message for error in validator(DEFINITIONS[source.kind]).iter_errors(as_json(loaded.data))]

    assert errors == []


COURSE = {"title": "A course"}
LESSON = {"title": "A lesson"}
MEDIA = {"public_id": "x", "resource_type": "image", "secure_url": "https://res.example.com/x.png", "alt": "X"}


@pytest.mark.parametrize(("definition", "document"), [
    ("Course", COURSE),
    ("Lesson", {**LESSON, "type": "video", "videos": [{"url": "https://v.example.com/a.mp4"}]}),
    ("Lesson", {**LESSON, "type": "pdf", "pdf_url": "https://f.example.com/a.pdf"}),
    ("Media", MEDIA),
    ("Media", {**MEDIA, "resource_type": "video", "duration_ms": 1000}),
    ("Categories", [{"slug": "a", "name": "A"}]),
])
def test_good_documents_are_accepted(definition: str, document: Any) -> None:
    assert validator(definition).is_valid(document)


@pytest.mark.parametrize(("definition", "document"), [
    ("Course", {**COURSE, "titel": "typo"}),
    ("Course", {"description": "no title"}),
    ("Course", {**COURSE, "status": "live"}),
    ("Course", {**COURSE, "instructor": "Grace Tester"}),
    ("Course", {**COURSE, "price": -1}),
    ("Course", {**COURSE, "currency": "usd"}),
    ("Project", {"title": "P", "github_url": "http://github.com/x/y"}),
    ("Lesson", {**LESSON, "type": "video"}),
    ("Lesson", {**LESSON, "type": "video", "videos": []}),
    ("Lesson", {**LESSON, "type": "pdf"}),
    ("Lesson", {**LESSON, "type": "quiz"}),
    ("Lesson", {**LESSON, "videos": [{"url": "https://v.example.com/a.mp4", "start": 3}]}),
    ("Media", {key: value for key, value in MEDIA.items() if key != "alt"}),
    ("Media", {**MEDIA, "alt": ""}),
    ("Media", {**MEDIA, "duration_ms": 5}),
    ("Categories", [{"slug": "Bad Slug", "name": "A"}]),
    ("Categories", {"slug": "a", "name": "A"}),
])
def test_bad_documents_are_rejected(definition: str, document: Any) -> None:
    assert not validator(definition).is_valid(document)
