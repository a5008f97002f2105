"""`cms validate` over whole trees: clean content, many defects at once, output formats, debris, line numbers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cms.cli import main
from cms.content.frontmatter import load_data_file
from cms.content.reporting import as_github, as_text
from cms.problems import Problem
from tests.conftest import EXAMPLE_CONTENT, SITE, make_repo
from tests.defects import build_tree, expected_problems, run_validate, unmatched, validate_json

TEN_CASES = [
    "frontmatter-toml", "yaml-alias-bomb", "course-bad-currency", "unknown-field-typo", "slug-too-long-file-name",
    "duplicate-lesson-slug-across-sections", "reference-missing-avatar", "prerequisite-self",
    "media-image-without-alt", "missing-parent-lesson-without-section",
]
LESSON_DIR = "courses/intro-to-testing/01-basics"


def write(content: Path, rel: str, text: str | bytes) -> Path:
    path = content / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_example_content_is_clean() -> None:
    exit_code, report = validate_json(EXAMPLE_CONTENT)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert errors == []
    assert exit_code == 0
    assert report["files"] > 20


def test_test_site_is_clean(site: Path) -> None:
    exit_code, report = validate_json(site / "content")
    assert report["problems"] == []
    assert report["files"] == sum(1 for path in (SITE / "content").rglob("*") if path.suffix in (".md", ".yml"))
    assert exit_code == 0


def test_ten_defects_are_reported_in_one_run(tmp_path: Path) -> None:
    expected = [item for case in TEN_CASES for item in expected_problems(case)]
    assert len({item["rule"] for item in expected}) == 10

    exit_code, report = validate_json(build_tree(tmp_path / "repo", *TEN_CASES))

    missing, extra = unmatched(expected, report["problems"])
    assert missing == [] and extra == []
    assert report["errors"] == len(expected)
    assert exit_code == 1


def _priced_course(site: Path) -> Path:
    return write(site / "content", "courses/priced-course/course.md",
                 "---\ntitle: Priced\ncurrency: 10%\n---\nA course.\n")


def test_github_format_is_a_workflow_annotation(site: Path) -> None:
    _priced_course(site)
    write(site / "content", f"{LESSON_DIR}/03-a,b:c.md", "---\ntitle: Odd name\n---\n")

    result = run_validate(site / "content", "github")

    lines = result.stdout.splitlines()
    assert ("::error file=content/courses/priced-course/course.md,line=3,col=1,title=schema::"
            "currency: invalid value for currency (expected a 3-letter ISO 4217 currency code such as USD, "
            "found string '10%25')") in lines
    odd = [line for line in lines if "title=slug" in line]
    assert len(odd) == 1
    assert odd[0].startswith(f"::error file=content/{LESSON_DIR}/03-a%2Cb%3Ac.md,title=slug::")
    assert lines[-1] == "19 files checked: 2 errors, 0 warnings"
    assert result.exit_code == 1


def test_github_format_escapes_properties_and_data() -> None:
    problem = Problem(file="content/a,b:c.md", line=4, column=2, rule="schema", field="title",
                      message="100% wrong\nreally\r", expected="x", found="y")
    warning = Problem(file="content/d.png", rule="not-content", severity="warning", message="ignored")

    lines = as_github([problem, warning], 1).splitlines()

    assert lines[0] == ("::error file=content/a%2Cb%3Ac.md,line=4,col=2,title=schema::"
                        "title: 100%25 wrong%0Areally%0D (expected x, found y)")
    assert lines[1] == "::warning file=content/d.png,title=not-content::ignored"


def test_text_format_names_place_severity_and_rule(site: Path) -> None:
    _priced_course(site)

    result = run_validate(site / "content", "text")

    assert result.stdout.splitlines()[0].startswith(
        "content/courses/priced-course/course.md:3:1: error [schema] currency: invalid value for currency")
    assert result.exit_code == 1


def test_text_format_without_line() -> None:
    problem = Problem(file="content/x.md", rule="symlink", message="symlinks are not followed")
    assert as_text([problem], 0).splitlines()[0] == "content/x.md: error [symlink] symlinks are not followed"


def test_missing_directory_exits_2_with_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "nowhere does not exist" in result.output


def test_a_file_is_not_a_content_directory(site: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(site / "content" / "categories.yml")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_debris_is_ignored_silently(site: Path) -> None:
    content = site / "content"
    garbage = "not: [valid\n"
    for rel in (f"{LESSON_DIR}/.01-why-test.md.swp", f"{LESSON_DIR}/01-why-test.md~", f"{LESSON_DIR}/.hidden.md",
                f"{LESSON_DIR}/_draft.md", f"{LESSON_DIR}/03-upload.md.tmp", "media/.~lock.x.yml#",
                ".obsidian/workspace.md", ".github/workflows/ci.yml", "_drafts/courses/x/course.md",
                "courses/_archive/course.md", f"{LESSON_DIR}/.DS_Store"):
        write(content, rel, garbage)
    write(content, f"{LESSON_DIR}/.01-why-test.md.swp", b"\x00\xff binary swap")

    exit_code, report = validate_json(content)

    assert report["problems"] == []
    assert exit_code == 0


def test_stray_image_is_a_warning(site: Path) -> None:
    write(site / "content", f"{LESSON_DIR}/diagram.png", b"\x89PNG\r\n\x1a\n")

    exit_code, report = validate_json(site / "content")

    assert [(p["file"], p["rule"], p["severity"]) for p in report["problems"]] == [
        (f"content/{LESSON_DIR}/diagram.png", "not-content", "warning")]
    assert (report["errors"], report["warnings"]) == (0, 1)
    assert exit_code == 0


BOMB_PROBE = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3))
from cms.content.frontmatter import load_data_file, load_markdown
bomb = sys.stdin.read()
start = time.perf_counter()
data_file = load_data_file(bomb.encode(), "media/bomb.yml")
markdown = load_markdown(("---\\ntitle: Bomb\\n" + bomb + "---\\nBody\\n").encode(), "bomb.md")
elapsed = time.perf_counter() - start
print(json.dumps({"elapsed": elapsed, "data": [data_file.data, markdown.data],
                  "problems": [[(p.rule, p.line) for p in loaded.problems] for loaded in (data_file, markdown)]}))
"""


def _bomb(levels: int, width: int = 10) -> str:
    lines = ['l0: &l0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_quickly() -> None:
    """10**12 strings if expanded. Run apart, with a memory cap and a timeout, so a regression fails, not hangs."""
    probe = subprocess.run([sys.executable, "-c", BOMB_PROBE], input=_bomb(levels=12), capture_output=True,
                           text=True, timeout=10)
    assert probe.returncode == 0, probe.stderr
    outcome = json.loads(probe.stdout)

    assert outcome["data"] == [None, None]
    assert outcome["problems"] == [[["yaml-anchor", 1]], [["yaml-anchor", 3]]]
    assert outcome["elapsed"] < 1.0


def test_alias_without_anchors_is_refused() -> None:
    loaded = load_data_file(b"public_id: *id\n", "media/x.yml")
    assert [(p.rule, p.line, p.column) for p in loaded.problems] == [("yaml-alias", 1, 12)]


def test_line_numbers_count_the_opening_fence(site: Path) -> None:
    write(site / "content", f"{LESSON_DIR}/03-counted.md",
          "---\n"                       # 1
          "title: Counted\n"            # 2  front matter line 1
          "type: text\n"                # 3
          "status: published\n"         # 4
          "description: Lines\n"        # 5
          "duration_minutes: many\n"    # 6  front matter line 5
          "---\n"                       # 7
          "First body line.\n"          # 8
          "\n"                          # 9
          "```markdown\n"               # 10
          "[in code](nowhere.md)\n"     # 11 not a link
          "```\n"                       # 12
          "See [this](01-why-test.md) and [that](04-nowhere.md).\n")  # 13

    exit_code, report = validate_json(site / "content")

    assert [(p["rule"], p.get("line"), p.get("field")) for p in report["problems"]] == [
        ("schema", 6, "duration_minutes"), ("broken-link", 13, None)]
    assert exit_code == 1


def test_line_numbers_with_crlf_and_bom(site: Path) -> None:
    text = "\ufeff---\r\ntitle: Windows\r\nkind: text\r\n---\r\nBody\r\n\r\n[gone](04-gone.md)\r\n"
    write(site / "content", f"{LESSON_DIR}/03-windows.md", text.encode("utf-8"))

    _, report = validate_json(site / "content")

    assert [(p["rule"], p.get("line"), p.get("column")) for p in report["problems"]] == [
        ("unknown-field", 3, 1), ("broken-link", 7, None)]


def test_files_are_named_from_the_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(SITE / "content", repo / "site" / "content")
    make_repo(repo)
    (repo / "site" / "content" / "courses" / "advanced-testing" / "course.md").unlink()

    _, report = validate_json(repo / "site" / "content")

    assert "site/content/courses/advanced-testing/01-mocking/section.md" in {p["file"] for p in report["problems"]}


def test_file_names_windows_reserves_are_reported(site: Path) -> None:
    """`con`, `aux`, `nul`, `prn`, `com1`–`com9` and `lpt1`–`lpt9` name no file on Windows, where authors clone."""
    content = site / "content"
    write(content, "projects/con.md", "---\ntitle: Con\n---\n")
    write(content, "courses/aux/course.md", "---\ntitle: Aux\n---\n")
    write(content, "courses/intro-to-testing/03-nul/section.md", "---\ntitle: Nul\n---\n")
    write(content, "media/lpt9.yml", (content / "media/testing-cover.yml").read_text())
    write(content, "projects/com10.md", "---\ntitle: Not reserved\n---\n")
    exit_code, report = validate_json(content)
    reserved = sorted(p["file"] for p in report["problems"] if p["rule"] == "reserved-name")
    assert reserved == ["content/courses/aux/course.md", "content/courses/intro-to-testing/03-nul/section.md",
                        "content/media/lpt9.yml", "content/projects/con.md"]
    assert all("Windows" in p["message"] for p in report["problems"] if p["rule"] == "reserved-name")
    assert exit_code == 1
