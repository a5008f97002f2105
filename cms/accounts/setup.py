"""What the admin API needs, opened from settings: the state database, its users and their sessions."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cms.accounts.sessions import Sessions
from cms.accounts.state import StateDB
from cms.accounts.tokens import TokenSigner
from cms.accounts.users import UserStore, check_admin_settings
from cms.content.corpus import ContentTree
from cms.settings import Settings

log = logging.getLogger("coursebase.api")


@dataclass
class Accounts:
    """The open state database with the user store and the sessions built on it."""

    db: StateDB
    users: UserStore
    sessions: Sessions

    @classmethod
    def open(cls, settings: Settings, tree: ContentTree) -> Accounts | None:
        """Open the state database and create FIRST_SUPERUSER if missing; None when the admin API is off."""
        if settings.secret_key is None:
            log.warning("CMS_SECRET_KEY is not set: the admin API (/api/v1/auth, /api/v1/users) is disabled and "
                        "answers 503; the public read API is served as usual")
            return None
        db = StateDB.from_settings(settings, tree)
        users = UserStore(db)
        name, password = settings.first_superuser, settings.first_superuser_password
        if name and password and users.ensure_admin(name, password) is not None:
            log.warning("created the first admin %r (FIRST_SUPERUSER)", name)
        signer = TokenSigner(settings.secret_key, settings.access_token_minutes)
        return cls(db=db, users=users, sessions=Sessions(users, signer, settings.refresh_token_days))

    def close(self) -> None:
        self.db.close()


def check_server_settings(settings: Settings) -> None:
    """What a server checks before any worker starts, so that a mistake stops it with a message naming the
    variable: FIRST_SUPERUSER and its password, and, with the admin API on, the state database (reachable,
    the password right, not newer than this code). An older state database is upgraded here, once."""
    check_admin_settings(settings)
    if settings.admin_enabled:
        StateDB.from_settings(settings, ContentTree.locate(settings.content_dir)).close()
