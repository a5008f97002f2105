"""Per-user daily allowances, counted in the state database (AI drafts: `CMS_AI_DAILY_QUOTA`).

A day is a UTC calendar day. A use is counted when it is taken, before the
work it pays for: a Gemini call costs the same whether or not its answer
turns out usable. Counts of earlier days are dropped as new ones are taken.
Taking is one statement that counts only while the count is below the
limit, so however many requests race, on however many servers, exactly
`limit` uses are granted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cms.accounts.state import StateDB
from cms.errors import RateLimited

TAKE = """INSERT INTO daily_usage (user_id, action, day, count) VALUES (:user, :action, :day, 1)
    ON CONFLICT (user_id, action, day) DO UPDATE SET count = daily_usage.count + 1
    WHERE daily_usage.count < :limit
    RETURNING count"""
"""A row back: the use is taken. No row: the day's allowance is spent (the conflicting row was not updated)."""


class DailyQuota:
    """At most `limit` uses of `action` per user per UTC day."""

    def __init__(self, db: StateDB, action: str, limit: int) -> None:
        self.db = db
        self.action = action
        self.limit = limit

    def take(self, user_id: int, now: datetime | None = None) -> None:
        """Count one use today; 429 (`RateLimited`, retry after the next UTC midnight) when none is left."""
        now = now or datetime.now(UTC)
        day = now.strftime("%Y-%m-%d")
        with self.db.write() as conn:
            taken = self.limit > 0 and conn.execute(TAKE, {"user": user_id, "action": self.action, "day": day,
                                                           "limit": self.limit}).fetchone() is not None
            if not taken:
                raise RateLimited(f"you have used today's {self.limit} {self.action}s; more are allowed from "
                                  "00:00 UTC", retry_after=_seconds_to_midnight(now))
            conn.execute("DELETE FROM daily_usage WHERE day < :day", {"day": day})


def _seconds_to_midnight(now: datetime) -> int:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()))
