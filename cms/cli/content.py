"""What authors run on their content: `cms validate`, `cms schema`, `cms new ...`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from cms.cli.options import content_dir_argument, content_dir_option, content_dir_or_setting, reports_errors

REPORT_FORMATS = ("github", "json", "text")
"""The names of `cms.content.reporting.FORMATS`, written out so that `cms --help` need not import it (a test
checks that they agree)."""


@click.command()
@content_dir_argument
@click.option("--format", "output", type=click.Choice(REPORT_FORMATS), default="text", show_default=True,
              help="text for people, json for scripts, github for workflow annotations.")
@reports_errors
def validate(content_dir: Path | None, output: str) -> None:
    """Check every content file and the links between them; exit 1 on problems."""
    from cms.content.reporting import FORMATS
    from cms.content.validate import validate_dir
    from cms.index.redirects import moved_files

    folder = content_dir_or_setting(content_dir)
    report = validate_dir(folder, moved_files(folder))
    click.echo(FORMATS[output](report.problems, report.files))
    sys.exit(1 if report.errors else 0)


@click.command("schema")
@click.option("--check", is_flag=True, help="Fail if the file is not what the models generate.")
@click.option("--output", type=click.Path(path_type=Path), default=Path("content.schema.json"), show_default=True)
def schema_command(check: bool, output: Path) -> None:
    """Write content.schema.json from the content model (or --check it)."""
    from cms.content import schema

    if check:
        if not schema.is_current(output):
            raise click.ClickException(f"{output} is stale: run `cms schema` and commit it")
        click.echo(f"{output} is up to date")
        return
    schema.write(output)
    click.echo(f"wrote {output}")


@click.group()
def new() -> None:
    """Start a course, section, lesson or project as a file that validates."""


def _new_entry(name: str, *arguments: str) -> Callable[[Callable[..., None]], click.Command]:
    """`cms new NAME ARGUMENTS... --title T [--content-dir D]`, with library errors as click errors."""
    def decorate(command: Callable[..., None]) -> click.Command:
        command = click.option("--title", required=True)(content_dir_option(reports_errors(command)))
        for argument in reversed(arguments):
            command = click.argument(argument)(command)
        return new.command(name)(command)
    return decorate


def _created(path: Path) -> None:
    click.echo(f"created {path}")


@_new_entry("course", "slug")
def new_course(slug: str, title: str, content_dir: Path | None) -> None:
    """cms new course SLUG --title T"""
    from cms.content import scaffold

    _created(scaffold.new_course(content_dir_or_setting(content_dir), slug, title))


@_new_entry("section", "course", "slug")
def new_section(course: str, slug: str, title: str, content_dir: Path | None) -> None:
    """cms new section COURSE SLUG --title T"""
    from cms.content import scaffold

    _created(scaffold.new_section(content_dir_or_setting(content_dir), course, slug, title))


@_new_entry("lesson", "course", "section", "slug")
def new_lesson(course: str, section: str, slug: str, title: str, content_dir: Path | None) -> None:
    """cms new lesson COURSE SECTION SLUG --title T"""
    from cms.content import scaffold

    _created(scaffold.new_lesson(content_dir_or_setting(content_dir), course, section, slug, title))


@_new_entry("project", "slug")
def new_project(slug: str, title: str, content_dir: Path | None) -> None:
    """cms new project SLUG --title T"""
    from cms.content import scaffold

    _created(scaffold.new_project(content_dir_or_setting(content_dir), slug, title))


COMMANDS = [validate, schema_command, new]
