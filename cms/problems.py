"""The one record of "something is wrong with this content".

`cms validate`, the indexer and the write path all speak in `Problem`s, so an
author sees the same words whichever way they meet a mistake.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Severity = Literal["error", "warning"]


class Problem(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    """One finding about one file, with where it is and what was expected."""

    file: str
    rule: str
    message: str
    line: int | None = None
    column: int | None = None
    field: str | None = None
    expected: str | None = None
    found: str | None = None
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def location(self) -> str:
        """`file:line:column`, with the parts that are known."""
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def describe(self) -> str:
        """The message with what was expected and found, for people."""
        text = self.message
        if self.expected is not None:
            text += f" (expected {self.expected}"
            text += f", found {self.found})" if self.found is not None else ")"
        elif self.found is not None:
            text += f" (found {self.found})"
        return text


def sort_key(problem: Problem) -> tuple[str, int, int, str]:
    return (problem.file, problem.line or 0, problem.column or 0, problem.rule)


def has_errors(problems: list[Problem]) -> bool:
    return any(problem.is_error for problem in problems)
