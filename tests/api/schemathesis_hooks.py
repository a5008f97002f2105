"""Schemathesis hooks for the admin run (loaded through SCHEMATHESIS_HOOKS by tests/api/test_schemathesis.py).

The run logs in as one ADMIN and may change or delete any user: every user but that one. Renaming it,
changing its password or deleting it would end the run's own session, and nothing could be tested after.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

FUZZING_ADMIN_ID = "CMS_FUZZING_ADMIN_ID"
"""The environment variable naming the id of the admin the run logs in as."""


@schemathesis.hook
def filter_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> bool:
    return path_parameters is None or str(path_parameters.get("user_id")) != os.environ[FUZZING_ADMIN_ID]
