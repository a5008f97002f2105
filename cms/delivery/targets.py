"""Webhook targets: where changes are sent, and the secret each one's deliveries are signed with.

A target comes from CMS_WEBHOOK_TARGETS (source `env`: written into the
table at start, its secret updated when the setting's is; one no longer in
the setting is made inactive) or from the admin API (source `api`: its
secret is generated and shown once, in the answer that creates it). Only an
inactive `env` target may be deleted through the API: the setting would
bring an active one back at the next start.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from cms.database import Database, Row
from cms.delivery.addresses import TargetError, resolve
from cms.errors import Conflict, InvalidInput, NotFound
from cms.timestamps import utc_now

Source = Literal["env", "api"]
SECRET_PREFIX = "whsec_"
COLUMNS = "id, url, source, active, created_at"


@dataclass(frozen=True)
class Target:
    id: int
    url: str
    source: Source
    active: bool
    created_at: str

    @classmethod
    def from_row(cls, row: Row) -> Target:
        return cls(id=row["id"], url=row["url"], source=row["source"], active=bool(row["active"]),
                   created_at=row["created_at"])


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class Targets:
    def __init__(self, db: Database, allow_private: bool) -> None:
        self.db = db
        self.allow_private = allow_private

    def list(self, page: int, page_size: int) -> tuple[list[Target], int]:
        total = self.db.rows("SELECT COUNT(*) AS n FROM webhook_targets")[0]["n"]
        rows = self.db.rows(f"SELECT {COLUMNS} FROM webhook_targets ORDER BY id LIMIT :limit OFFSET :offset",
                            {"limit": page_size, "offset": (page - 1) * page_size})
        return [Target.from_row(row) for row in rows], total

    def get(self, target_id: int) -> Target:
        rows = self.db.rows(f"SELECT {COLUMNS} FROM webhook_targets WHERE id = :id", {"id": target_id})
        if not rows:
            raise NotFound(f"no webhook target {target_id}")
        return Target.from_row(rows[0])

    def create(self, url: str) -> tuple[Target, str]:
        """A new target (422 if its URL is unusable or resolves to an address that is not public) and its
        secret, which is shown this once."""
        try:
            resolve(url, self.allow_private)
        except TargetError as error:
            raise InvalidInput({"url": str(error)}) from None
        secret = new_secret()
        with self.db.write() as conn:
            row = conn.execute(f"INSERT INTO webhook_targets (url, secret, source, active, created_at) "
                               f"VALUES (:url, :secret, 'api', 1, :now) RETURNING {COLUMNS}",
                               {"url": url, "secret": secret, "now": utc_now()}).fetchone()
        return Target.from_row(row), secret

    def delete(self, target_id: int) -> None:
        """Delete a target and its deliveries; 409 for one CMS_WEBHOOK_TARGETS still names."""
        with self.db.write() as conn:
            row = conn.execute("SELECT source, active FROM webhook_targets WHERE id = :id",
                               {"id": target_id}).fetchone()
            if row is None:
                raise NotFound(f"no webhook target {target_id}")
            if row["source"] == "env" and row["active"]:
                raise Conflict(f"webhook target {target_id} comes from CMS_WEBHOOK_TARGETS: remove it there "
                               "(and restart) instead", reason="target-from-settings")
            conn.execute("DELETE FROM webhook_targets WHERE id = :id", {"id": target_id})

    def configure(self, pairs: tuple[tuple[str, str], ...]) -> None:
        """Make the `env` targets those of CMS_WEBHOOK_TARGETS (url, secret): add, update, deactivate."""
        with self.db.write() as conn:
            known = {row["url"]: row["id"] for row in conn.execute(
                "SELECT id, url FROM webhook_targets WHERE source = 'env' ORDER BY id").fetchall()}
            for url, secret in dict(pairs).items():
                if url in known:
                    conn.execute("UPDATE webhook_targets SET secret = :secret, active = 1 WHERE id = :id",
                                 {"secret": secret, "id": known.pop(url)})
                else:
                    conn.execute("INSERT INTO webhook_targets (url, secret, source, active, created_at) "
                                 "VALUES (:url, :secret, 'env', 1, :now)",
                                 {"url": url, "secret": secret, "now": utc_now()})
            for target_id in known.values():
                conn.execute("UPDATE webhook_targets SET active = 0 WHERE id = :id", {"id": target_id})
