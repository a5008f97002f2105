"""Figures that span files: positions, prev/next, and section and course totals.

Recomputed in SQL after every index update, for the courses it touched
(or all). Only published lessons in published sections count towards
totals and prev/next, since those are what readers see. Rows are matched
by their keys (no `rowid`) and flags are 0/1 integers, so the statements
run on SQLite and, through `cms.index.postgres`, on Postgres.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

_SCOPE = "course IN (SELECT value FROM json_each(:courses))"

_STATEMENTS = [
    f"""UPDATE lessons SET position = t.position, prev_slug = t.prev_slug, prev_title = t.prev_title,
            next_slug = t.next_slug, next_title = t.next_title
        FROM (SELECT a.course, a.slug, a.position, v.prev_slug, v.prev_title, v.next_slug, v.next_title
              FROM (SELECT course, slug, ROW_NUMBER() OVER (PARTITION BY course ORDER BY section_order, lesson_order)
                           AS position FROM lessons WHERE {_SCOPE}) AS a
              LEFT JOIN (SELECT l.course, l.slug,
                                LAG(l.slug) OVER w AS prev_slug, LAG(l.title) OVER w AS prev_title,
                                LEAD(l.slug) OVER w AS next_slug, LEAD(l.title) OVER w AS next_title
                         FROM lessons l JOIN sections s ON s.course = l.course AND s.slug = l.section
                         WHERE l.status = 'published' AND s.status = 'published' AND l.{_SCOPE}
                         WINDOW w AS (PARTITION BY l.course ORDER BY l.section_order, l.lesson_order)) AS v
                   ON v.course = a.course AND v.slug = a.slug) AS t
        WHERE t.course = lessons.course AND t.slug = lessons.slug AND (lessons.position IS NOT t.position
            OR lessons.prev_slug IS NOT t.prev_slug OR lessons.prev_title IS NOT t.prev_title
            OR lessons.next_slug IS NOT t.next_slug OR lessons.next_title IS NOT t.next_title)""",
    f"""UPDATE sections SET lesson_count = t.lessons, video_count = t.videos, video_seconds = t.seconds,
            duration_minutes = t.minutes
        FROM (SELECT s.course, s.slug, COUNT(l.slug) AS lessons, COALESCE(SUM(l.video_count), 0) AS videos,
                     COALESCE(SUM(l.video_seconds), 0) AS seconds,
                     COALESCE(SUM(COALESCE(l.duration_minutes, l.reading_time_minutes)), 0) AS minutes
              FROM sections s LEFT JOIN lessons l
                   ON l.course = s.course AND l.section = s.slug AND l.status = 'published'
              WHERE s.{_SCOPE} GROUP BY s.course, s.slug) AS t
        WHERE t.course = sections.course AND t.slug = sections.slug AND (sections.lesson_count IS NOT t.lessons
            OR sections.video_count IS NOT t.videos OR sections.video_seconds IS NOT t.seconds
            OR sections.duration_minutes IS NOT t.minutes)""",
    """UPDATE courses SET section_count = t.sections, lesson_count = t.lessons, video_count = t.videos,
            video_seconds = t.seconds, duration_minutes = t.minutes
        FROM (SELECT c.slug, COUNT(s.slug) AS sections, COALESCE(SUM(s.lesson_count), 0) AS lessons,
                     COALESCE(SUM(s.video_count), 0) AS videos, COALESCE(SUM(s.video_seconds), 0) AS seconds,
                     COALESCE(SUM(s.duration_minutes), 0) AS minutes
              FROM courses c LEFT JOIN sections s ON s.course = c.slug AND s.status = 'published'
              WHERE c.slug IN (SELECT value FROM json_each(:courses)) GROUP BY c.slug) AS t
        WHERE t.slug = courses.slug AND (courses.section_count IS NOT t.sections
            OR courses.lesson_count IS NOT t.lessons OR courses.video_count IS NOT t.videos
            OR courses.video_seconds IS NOT t.seconds OR courses.duration_minutes IS NOT t.minutes)""",
    f"""UPDATE search_docs SET listed = t.listed, publish_at = t.publish_at
        FROM (SELECT d.id, c.publish_at,
                     CASE WHEN c.status = 'published' AND (d.kind = 'course' OR EXISTS (
                              SELECT 1 FROM lessons l JOIN sections s ON s.course = l.course AND s.slug = l.section
                              WHERE l.course = d.course AND l.slug = d.slug AND l.status = 'published'
                                    AND s.status = 'published')) THEN 1 ELSE 0 END AS listed
              FROM search_docs d JOIN courses c ON c.slug = d.course
              WHERE d.kind IN ('course', 'lesson') AND d.{_SCOPE}) AS t
        WHERE t.id = search_docs.id AND (search_docs.listed IS NOT t.listed
            OR search_docs.publish_at IS NOT t.publish_at)""",
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
