"""Coursebase: course content as files in git, served as a JSON API.

The packages, in the order data flows through them; each imports only
packages listed before it (`lint-imports` checks this, see pyproject.toml):

    errors, problems, settings  shared vocabulary (with localdir, timestamps, lifetime)
    content/    files → front matter → typed entries → the corpus and its checks
    repo/       git: the working tree, commits, draft branches, the remote
    index/      the SQLite index: rendering, rows, the indexer, `cms watch`
    read/       read-only connections, queries, the entries the read API serves
    write/      admin requests → file changes → one validated commit → re-index
    accounts/   users, access tokens, logins, daily quotas (the state database)
    media/      uploads checked from their bytes, stored at Cloudinary, recorded in git
    ai/         Gemini drafts a lesson onto its own branch for review
    cli/        the `cms` command

`cms` never imports `api`, the HTTP layer built on top of it.
"""
