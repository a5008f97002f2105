"""One fixture per defect class: each is reported exactly where it is, with what was expected, and nothing else.

The cases live in `tests/fixtures/defects/` (see `tests/defects.py` for their layout).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.defects import CASES, VALUE_RULES, build_tree, expected_problems, unmatched, validate_json

ALL_RULES = VALUE_RULES | {"yaml-syntax", "yaml-alias", "yaml-anchor", "yaml-tag", "yaml-key", "yaml-merge",
                           "yaml-duplicate-key", "not-content"}


def test_every_rule_has_a_case() -> None:
    covered = {item["rule"] for case in CASES for item in expected_problems(case)}
    assert covered == ALL_RULES


@pytest.mark.parametrize("case", CASES)
def test_defect_is_reported(case: str, tmp_path: Path) -> None:
    expected = expected_problems(case)
    exit_code, report = validate_json(build_tree(tmp_path / "repo", case))

    missing, extra = unmatched(expected, report["problems"])
    assert not missing, f"not reported: {missing}\nreported: {report['problems']}"
    assert not extra, f"reported but not expected: {extra}"
    errors = sum(item.get("severity", "error") == "error" for item in expected)
    assert report["errors"] == errors
    assert exit_code == (1 if errors else 0)
    for problem in report["problems"]:
        assert problem["message"].strip()
        assert problem["severity"] in ("error", "warning")
        if problem["rule"] in VALUE_RULES:
            assert problem.get("expected"), f"{problem['rule']} problem does not say what was expected: {problem}"
