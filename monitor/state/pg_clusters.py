"""The cluster index on PostgreSQL: ``ClusterIndex``'s logic, PostgreSQL's SQL (adapter).

For ``PostgresStore`` only. The index's statements are written once, for SQLite, in
``clusters.py``; ``PgRunner`` runs them on the store's current transaction connection and
rewrites the few SQLite spellings PostgreSQL lacks (``?`` placeholders, ``INSERT OR IGNORE``,
``lastrowid``). Two statements are PostgreSQL's own: the cluster upsert (two-argument ``max``
is ``GREATEST`` there) and the candidate lookup: ``unnest`` the story's band keys and
``CROSS JOIN LATERAL`` the newest ``PER_KEY_SCAN`` rows of each on the ``(band, seen_s,
story_id)`` primary key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import psycopg

from monitor.detect import similar
from monitor.state.clusters import PER_KEY_SCAN, ClusterIndex, _Candidate

_INSERT_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO", re.IGNORECASE)
_RETURNS_ID = re.compile(r"^\s*INSERT INTO dedup_stories\b", re.IGNORECASE)


class Result:
    """What the index reads back from a statement: its rows, rowcount and new id."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None):
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


@lru_cache(maxsize=256)
def translate(sql: str) -> tuple[str, bool]:
    """The PostgreSQL spelling of one of the index's SQLite statements, and whether it now
    returns the new row's id."""
    text = sql.replace("%", "%%")
    ignore = bool(_INSERT_IGNORE.match(text))
    if ignore:
        text = _INSERT_IGNORE.sub("INSERT INTO", text, count=1) + " ON CONFLICT DO NOTHING"
    returns_id = bool(_RETURNS_ID.match(text))
    if returns_id:
        text += " RETURNING id"
    return text.replace("?", "%s"), returns_id


class PgRunner:
    """Runs the index's statements on the owning store's connection (``StatementRunner``)."""

    def __init__(self, connection: Callable[[], AbstractContextManager[Any]]) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Result:
        text, returns_id = translate(sql)
        with self._connection() as conn:
            cursor: psycopg.Cursor[tuple[Any, ...]] = conn.execute(text, tuple(parameters))
            rows = cursor.fetchall() if cursor.description else []
            new_id = int(rows[0][0]) if returns_id and rows else None
            return Result(rows, cursor.rowcount, new_id)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Result:
        text, _ = translate(sql)
        batch = [tuple(row) for row in parameters]
        with self._connection() as conn, conn.cursor() as cursor:
            if batch:
                cursor.executemany(text, batch)
            return Result([], cursor.rowcount, None)


class PgClusterIndex(ClusterIndex):
    """``ClusterIndex`` with PostgreSQL's candidate lookup (one statement, index-only)."""

    def _candidates(self, bands: Sequence[int], now: datetime) -> Iterator[_Candidate]:
        if not bands:
            return
        since = int((now - timedelta(seconds=self.window_s)).timestamp())
        rows = self.conn.execute(
            "SELECT s.id, s.story_key, s.cluster_id, s.feed_id, s.sig FROM "
            "(SELECT k.story_id, count(*) AS shared FROM unnest(?::bigint[]) AS b(band) "
            "CROSS JOIN LATERAL (SELECT story_id FROM dedup_keys WHERE band = b.band "
            "AND seen_s >= ? ORDER BY seen_s DESC LIMIT ?) AS k "
            "GROUP BY k.story_id ORDER BY shared DESC, k.story_id DESC LIMIT ?) AS c "
            "JOIN dedup_stories AS s ON s.id = c.story_id ORDER BY c.shared DESC, s.id DESC",
            (list(bands), since, PER_KEY_SCAN, self.max_candidates),
        ).fetchall()
        for story_id, key, cluster_id, feed_id, blob in rows:
            yield _Candidate(
                story_id, key, cluster_id, similar.Signature.from_bytes(bytes(blob), feed_id)
            )

    def _touch_cluster(self, cluster_id: str, story_key: str, seen: float) -> None:
        self.conn.execute(
            "INSERT INTO dedup_clusters AS c (cluster_id, first_story_key, first_seen_at, "
            "last_seen_at, size) VALUES (?, ?, ?, ?, 1) ON CONFLICT (cluster_id) DO UPDATE SET "
            "last_seen_at = GREATEST(c.last_seen_at, excluded.last_seen_at), size = c.size + 1",
            (cluster_id, story_key, seen, seen),
        )
