#!/bin/sh
# One API replica of docker-compose.yml: clone the content remote into this replica's own volume on first
# start, then serve it. Later starts find the clone there and serve it as it is: the server catches it up
# with the remote itself (before every write, and when another replica announces a new head), and a clone
# that lags behind the shared index (CMS_DATABASE_URL) leaves that index as the other replicas left it.
#
#   CONTENT_REMOTE   the content repository to clone (an SSH or HTTPS URL the container can reach)
#   CONTENT_BRANCH   its branch (default main)
#   CLONE            where the clone lives (default /srv/clone, the replica's volume)
set -eu

: "${CONTENT_REMOTE:?set CONTENT_REMOTE to the content repository to clone}"
CLONE="${CLONE:-/srv/clone}"
CONTENT_BRANCH="${CONTENT_BRANCH:-main}"

if [ ! -d "$CLONE/.git" ]; then
    git clone --quiet --branch "$CONTENT_BRANCH" -- "$CONTENT_REMOTE" "$CLONE"
fi
exec cms serve "$CLONE/content" --host 0.0.0.0 --port 8000 --workers "${WORKERS:-2}"
