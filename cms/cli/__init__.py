"""The `cms` command: a thin click layer over the library (`cms = "cms.cli:main"`, also `python -m cms`).

Library errors (`CmsError`) become click errors with exit status 2 for
"could not run" and 1 for "content has problems". These modules import
click and nothing else at the top: each command imports what it needs when
it runs, so `cms --help` stays quick.

    options     what the commands share (errors, the content directory)
    content     validate, schema, new
    serving     index, stats, watch, serve (`server`: granian and the indexer child; `progress`: the bar)
    admin       users, media, ai
"""

from __future__ import annotations

import click

from cms.cli import admin, content, serving

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="coursebase")
def main() -> None:
    """Coursebase: course content as files in git, served as a JSON API."""


for command in (*content.COMMANDS, *serving.COMMANDS, *admin.COMMANDS):
    main.add_command(command)
