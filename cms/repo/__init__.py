"""The content repository as git sees it: the one seam every git command goes through.

    repository   `GitRepo`: runs git (`run`, `run_bytes`, one `GitError`), answers what the indexer asks
    commits      the write path's commits: exactly the given paths, as a given person, or put back
    branches     a commit on a new branch beside the checkout (AI drafts)
    remote       pushing admin commits (one rebase retry), pulling on the webhook, its signature
"""

from cms.repo.commits import Identity, blob_at_head, commit_paths, configured_identity, restore_paths
from cms.repo.repository import GitError, GitRepo

__all__ = ["GitError", "GitRepo", "Identity", "blob_at_head", "commit_paths", "configured_identity", "restore_paths"]
