"""Figures that span files: positions, prev/next, and section and course totals.

Recomputed in SQL after every index update, for the courses it touched
(or all). Only published lessons in published sections count towards
totals and prev/next, since those are what readers see.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

_SCOPE = "course IN (SELECT value FROM json_each(:courses))"

_STATEMENTS = [
    f"""UPDATE lessons SET position = ordered.position, prev_slug = NULL, prev_title = NULL,
            next_slug = NULL, next_title = NULL
        FROM (SELECT rowid AS id, ROW_NUMBER() OVER (PARTITION BY course ORDER BY section_order, lesson_order)
                     AS position FROM lessons WHERE {_SCOPE}) AS ordered
        WHERE ordered.id = lessons.rowid""",
    f"""UPDATE lessons SET prev_slug = v.prev_slug, prev_title = v.prev_title,
            next_slug = v.next_slug, next_title = v.next_title
        FROM (SELECT l.rowid AS id,
                     LAG(l.slug) OVER w AS prev_slug, LAG(l.title) OVER w AS prev_title,
                     LEAD(l.slug) OVER w AS next_slug, LEAD(l.title) OVER w AS next_title
              FROM lessons l JOIN sections s ON s.course = l.course AND s.slug = l.section
              WHERE l.status = 'published' AND s.status = 'published' AND l.{_SCOPE}
              WINDOW w AS (PARTITION BY l.course ORDER BY l.section_order, l.lesson_order)) AS v
        WHERE v.id = lessons.rowid""",
    f"""UPDATE sections SET lesson_count = COALESCE(t.lessons, 0), video_count = COALESCE(t.videos, 0),
            video_seconds = COALESCE(t.seconds, 0), duration_minutes = COALESCE(t.minutes, 0)
        FROM (SELECT s.rowid AS id, COUNT(l.slug) AS lessons, SUM(l.video_count) AS videos,
                     SUM(l.video_seconds) AS seconds,
                     SUM(COALESCE(l.duration_minutes, l.reading_time_minutes)) AS minutes
              FROM sections s LEFT JOIN lessons l
                   ON l.course = s.course AND l.section = s.slug AND l.status = 'published'
              WHERE s.{_SCOPE} GROUP BY s.rowid) AS t
        WHERE t.id = sections.rowid""",
    """UPDATE courses SET section_count = COALESCE(t.sections, 0), lesson_count = COALESCE(t.lessons, 0),
            video_count = COALESCE(t.videos, 0), video_seconds = COALESCE(t.seconds, 0),
            duration_minutes = COALESCE(t.minutes, 0)
        FROM (SELECT c.rowid AS id, COUNT(s.slug) AS sections, SUM(s.lesson_count) AS lessons,
                     SUM(s.video_count) AS videos, SUM(s.video_seconds) AS seconds,
                     SUM(s.duration_minutes) AS minutes
              FROM courses c LEFT JOIN sections s ON s.course = c.slug AND s.status = 'published'
              WHERE c.slug IN (SELECT value FROM json_each(:courses)) GROUP BY c.rowid) AS t
        WHERE t.id = courses.rowid""",
]


def refresh(conn: sqlite3.Connection, courses: Iterable[str] | None = None) -> None:
    """Recompute derived figures for `courses` (every course when None)."""
    if courses is None:
        names = [row[0] for row in conn.execute("SELECT slug FROM courses UNION SELECT course FROM lessons")]
    else:
        names = sorted(set(courses))
    if not names:
        return
    parameters = {"courses": json.dumps(names)}
    for statement in _STATEMENTS:
        conn.execute(statement, parameters)
