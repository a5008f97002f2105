"""The one way Coursebase writes a moment: RFC 3339 in UTC with a `Z`, to the second, so text order is time order."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc(value: datetime | str | None) -> str | None:
    """`value` (a datetime, or RFC 3339 text with any offset) as `2024-05-01T12:00:00Z`; None stays None."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime(FORMAT)


def utc_now() -> str:
    return datetime.now(UTC).strftime(FORMAT)


def file_time(path: Path) -> str:
    """When a file (one not yet committed) was last written."""
    return datetime.fromtimestamp(os.stat(path).st_mtime, UTC).strftime(FORMAT)
