"""How problems are written out: for people, for scripts, for GitHub annotations."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from cms.problems import Problem


def as_text(problems: list[Problem], files: int) -> str:
    lines = [f"{p.location()}: {p.severity} [{p.rule}] {_field(p)}{p.describe()}" for p in problems]
    lines.append(summary(problems, files))
    return "\n".join(lines)


def as_json(problems: list[Problem], files: int) -> str:
    errors = sum(p.is_error for p in problems)
    # `severity` is always written: a script filtering on it must not miss the errors (the default).
    shown = [{**msgspec.to_builtins(p), "severity": p.severity} for p in problems]
    document = {"files": files, "errors": errors, "warnings": len(problems) - errors, "problems": shown}
    return msgspec.json.format(msgspec.json.encode(document).decode(), indent=2)


def as_github(problems: list[Problem], files: int) -> str:
    """GitHub workflow commands: `::error file=…,line=…,col=…,title=…::message`."""
    lines = []
    for p in problems:
        properties = [f"file={_escape_property(p.file)}"]
        if p.line is not None:
            properties.append(f"line={p.line}")
        if p.column is not None:
            properties.append(f"col={p.column}")
        properties.append(f"title={_escape_property(p.rule)}")
        lines.append(f"::{p.severity} {','.join(properties)}::{_escape_data(_field(p) + p.describe())}")
    lines.append(summary(problems, files))
    return "\n".join(lines)


def summary(problems: list[Problem], files: int) -> str:
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    return f"{files} files checked: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


FORMATS: dict[str, Callable[[list[Problem], int], str]] = {"text": as_text, "json": as_json, "github": as_github}


def _field(problem: Problem) -> str:
    return f"{problem.field}: " if problem.field else ""


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
