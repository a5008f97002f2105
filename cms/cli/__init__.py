"""The `cms` command: a thin click layer over the library (`cms = "cms.cli:main"`, also `python -m cms`)."""

from cms.cli.commands import main

__all__ = ["main"]
