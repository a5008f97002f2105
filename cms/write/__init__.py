"""The write path: admin requests → file changes → one validated git commit → the index follows.

    changes      a request on an entry → the file changes that carry it out
    operations   each admin operation as one commit (`Workspace`, `Written`); the webhook's `pull`
    commit       lock, checks, validation, atomic files, the commit, re-index (`apply`)
    journal      the write lock and the write-ahead note that undoes an interrupted write
"""

from cms.write.commit import Change, Versions, apply
from cms.write.operations import Workspace, Written, pull

__all__ = ["Change", "Versions", "Workspace", "Written", "apply", "pull"]
