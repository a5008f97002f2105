"""`cms stats`: what the index holds, for the public and in all."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cms.cli import main


def test_stats_counts_what_the_public_sees_and_what_is_stored(site: Path) -> None:
    result = CliRunner().invoke(main, ["stats", str(site / "content"), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["public"]["courses"] == 1, "the draft course is stored but not public"
    assert figures["stored"]["courses"] == 2
    assert figures["public"]["lessons"] == 4 and figures["stored"]["lessons"] == 5
    assert figures["stored"]["video_snippets"] == 2
    assert figures["totals"]["video_seconds"] == 95
    assert len(figures["commit"]) == 40


def test_stats_as_text_and_on_a_missing_folder(site: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["stats", str(site / "content")], catch_exceptions=False)
    assert result.exit_code == 0 and "public: 1 courses" in result.output
    missing = CliRunner().invoke(main, ["stats", str(tmp_path / "nope")], catch_exceptions=False)
    assert missing.exit_code == 2 and "does not exist" in missing.output
