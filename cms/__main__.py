"""`python -m cms`: the same as the `cms` command."""

from cms.cli.commands import main

main()
