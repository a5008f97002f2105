"""The content repository as git sees it: the one seam every git command goes through.

    repository   `GitRepo`: runs git, answers what the indexer asks (blob ids, history, HEAD)
    remote       pushing admin commits (one rebase retry), pulling on the webhook, its signature
"""

from cms.repo.repository import GitRepo, Identity, blob_at_head, busy_reason, configured_identity, file_time

__all__ = ["GitRepo", "Identity", "blob_at_head", "busy_reason", "configured_identity", "file_time"]
