"""Public visibility, decided at read time, as SQL conditions.

A course is visible when published and its `publish_at` (if any) has
passed; a section or lesson when it and everything above it is published;
a project or path when published; a media record when not deleted.
Staff readers (`hidden=True`) see everything.
"""

from __future__ import annotations

NOW = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
COURSE_VISIBLE = f"c.status = 'published' AND (c.publish_at IS NULL OR c.publish_at <= {NOW})"
SECTION_VISIBLE = "s.status = 'published'"
LESSON_VISIBLE = "l.status = 'published'"
PUBLISHED = "p.status = 'published'"


def visible(condition: str, hidden: bool) -> str:
    """`condition`, or no condition at all for a reader who may see hidden entries."""
    return "TRUE" if hidden else condition  # a boolean on Postgres too
