"""`cms --help` stays quick: the CLI imports click and its own thin modules, and nothing else, until a command runs."""

from __future__ import annotations

import subprocess
import sys

from cms.accounts.users import Role
from cms.cli.admin import ROLES
from cms.cli.content import REPORT_FORMATS
from cms.content.reporting import FORMATS

HEAVY = ("msgspec", "yaml", "comrak", "nh3", "sqlite3", "litestar", "granian", "rich", "watchfiles", "dotenv",
         "cms.content.corpus", "cms.index.build", "cms.settings", "cms.accounts.users")


def test_importing_the_cli_loads_nothing_heavy() -> None:
    code = f"import sys, cms.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_written_out_choices_match_their_sources() -> None:
    assert tuple(sorted(FORMATS)) == REPORT_FORMATS
    assert tuple(role.value for role in Role) == ROLES
