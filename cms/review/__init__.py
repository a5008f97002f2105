"""Review before publish: what a reviewer sees of a branch or commit that is not (yet) the served content.

    links    preview links: one ref, signed, until a moment
"""

from cms.review.links import DEFAULT_SECONDS, MAX_SECONDS, PreviewGrant, sign, verify

__all__ = ["DEFAULT_SECONDS", "MAX_SECONDS", "PreviewGrant", "sign", "verify"]
