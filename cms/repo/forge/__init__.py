"""Pull requests on the content repository's forge: GitHub, GitLab or Gitea (and Forgejo), by their REST APIs.

    config   the forge from CMS_FORGE_* settings: its kind, API base, repository and token
    apis     the three REST APIs: headers, calls, answers
    client   open_pull_request: create, or find the one open already; ForgeError (502) otherwise
"""

from cms.repo.forge.apis import PullRequest
from cms.repo.forge.client import ForgeError, open_pull_request
from cms.repo.forge.config import Forge, ForgeKind, ForgePolicy, configure, from_settings

__all__ = ["Forge", "ForgeError", "ForgeKind", "ForgePolicy", "PullRequest", "configure", "from_settings",
           "open_pull_request"]
