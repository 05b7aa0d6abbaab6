"""Cross-feed story clusters, kept in SQLite beside the store's own tables (adapter).

For the pipeline: ``ClusterIndex.assign(story, now=...)`` says which cluster a story belongs to
(the cluster, not the story, is what alerts), whether it starts that cluster, and whether it is
an edit of a story already seen under the same key. ``members`` lists the outlets that carried a
cluster (the "also reported by" of an ``alert.updated``); ``prune`` keeps the state bounded.

Ownership: the tables belong to the state store. ``SqliteStore`` creates them
(``ensure_schema``, ``CREATE TABLE IF NOT EXISTS``) and builds its own index (``store.clusters``)
on a statement runner of its connection; nobody else hands the index a connection.

Transactions: the index NEVER begins or commits. Call ``assign`` (and ``prune``) inside the
caller's transaction, the one that also marks stories seen and fills the outbox
(``store.transaction()``), so a crash keeps all or none of them.

Lookup: each story is indexed under ``similar.band_keys`` (about 25 integers) with the time it
was indexed, so finding candidates is one range scan per key limited to the window; only candidates
are compared (``similar.similarity``) and the most similar one at or above the threshold names
the cluster. Clusters never merge: an alert's cluster id stays valid.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from monitor.detect import dedup, similar
from monitor.errors import StoreError
from monitor.models import ClusterAssignment, Story

log = structlog.get_logger(__name__)

DEFAULT_WINDOW_S = 72 * 3600.0
DEFAULT_RETENTION_S = 30 * 86400.0
DEFAULT_MAX_CANDIDATES = 20
PER_KEY_SCAN = 50
MAX_OUTLETS = 50
NO_LIMIT = 2**62  # "all rows" for LIMIT in both SQLite and PostgreSQL (no -1 there)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS dedup_stories (
        id INTEGER PRIMARY KEY,
        story_key TEXT NOT NULL UNIQUE,
        cluster_id TEXT NOT NULL,
        feed_id TEXT NOT NULL,
        outlet TEXT NOT NULL,
        url TEXT,
        title TEXT NOT NULL,
        seen_at REAL NOT NULL,
        indexed_s INTEGER NOT NULL,
        updated_at REAL,
        content_hash TEXT NOT NULL,
        sig BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS dedup_stories_cluster ON dedup_stories (cluster_id, id)",
    "CREATE INDEX IF NOT EXISTS dedup_stories_seen ON dedup_stories (seen_at)",
    # One row per (band key, story); seen time in the key so a lookup scans only the window.
    """CREATE TABLE IF NOT EXISTS dedup_keys (
        band INTEGER NOT NULL,
        seen_s INTEGER NOT NULL,
        story_id INTEGER NOT NULL,
        PRIMARY KEY (band, seen_s, story_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS dedup_clusters (
        cluster_id TEXT PRIMARY KEY,
        first_story_key TEXT NOT NULL,
        first_seen_at REAL NOT NULL,
        last_seen_at REAL NOT NULL,
        size INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS dedup_clusters_last ON dedup_clusters (last_seen_at)",
    # which signature format the stored signatures and keys are in (``upgrade_signatures``)
    "CREATE TABLE IF NOT EXISTS dedup_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Rows(Protocol):
    """What a statement gives back (``sqlite3.Cursor`` fits)."""

    @property
    def rowcount(self) -> int: ...
    @property
    def lastrowid(self) -> int | None: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class StatementRunner(Protocol):
    """Runs statements in the owning store's current transaction (``sqlite3.Connection`` fits;
    ``SqliteStore`` passes a runner that holds its lock, ``PostgresStore`` one that rewrites
    the SQLite spellings, see ``pg_clusters``)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Rows: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Rows: ...


def ensure_schema(conn: StatementRunner) -> None:
    """Create the index's tables if missing and bring stored signatures to the current format
    (idempotent; call it inside a transaction, so an upgrade is all or nothing)."""
    with _translated("create schema"):
        for statement in _SCHEMA:
            conn.execute(statement)
        upgrade_signatures(conn)


def upgrade_signatures(conn: StatementRunner) -> int:
    """Re-sign stories stored under an older signature format; returns how many.

    Format 1 kept no summary, so a story stored before the upgrade is signed again from its
    stored headline and outlet: until it leaves the window it is found by headline only.
    Its index keys are rebuilt under the new format (old keys are deleted wholesale).
    """
    found = conn.execute("SELECT value FROM dedup_meta WHERE name = 'signature_format'")
    row = found.fetchone()
    if row is not None and int(row[0]) == similar.FORMAT_VERSION:
        return 0
    stored = conn.execute(
        "SELECT id, feed_id, outlet, title, indexed_s FROM dedup_stories"
    ).fetchall()
    if stored:
        conn.execute("DELETE FROM dedup_keys")
    for story_id, feed_id, outlet, title, indexed_s in stored:
        story = Story(feed_id=feed_id, title=title, url=None, fetched_at=_EPOCH, outlet=outlet)
        sig = similar.signature(story)
        conn.execute("UPDATE dedup_stories SET sig = ? WHERE id = ?", (sig.to_bytes(), story_id))
        conn.executemany(
            "INSERT OR IGNORE INTO dedup_keys (band, seen_s, story_id) VALUES (?, ?, ?)",
            [(band, indexed_s, story_id) for band in similar.band_keys(sig)],
        )
    conn.execute(
        "INSERT OR REPLACE INTO dedup_meta (name, value) VALUES ('signature_format', ?)",
        (similar.FORMAT_VERSION,),
    )
    if stored:
        log.info("dedup_signatures_upgraded", stories=len(stored), to=similar.FORMAT_VERSION)
    return len(stored)


@dataclass(frozen=True, slots=True)
class ClusterMember:
    """One story of a cluster, for "also reported by" lists."""

    story_key: str
    feed_id: str
    outlet: str
    url: str | None
    title: str
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class _Candidate:
    story_id: int
    story_key: str
    cluster_id: str
    sig: similar.Signature


class ClusterIndex:
    """Assigns stories to clusters of near-duplicates seen within ``window_s`` (see module doc)."""

    def __init__(
        self,
        conn: StatementRunner,
        *,
        threshold: float = similar.DEFAULT_THRESHOLD,
        window_s: float = DEFAULT_WINDOW_S,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
    ) -> None:
        self.conn = conn
        self.threshold = threshold
        self.window_s = window_s
        self.max_candidates = max_candidates

    # --- the pipeline's entry points ----------------------------------------------------------

    def assign(
        self, story: Story, *, now: datetime, with_outlets: bool = True
    ) -> ClusterAssignment:
        """Record ``story`` (seen at ``now``) and return its cluster. Does not commit.

        ``with_outlets=False`` leaves ``outlets`` empty for a story joining an existing cluster
        (ask ``outlets`` when needed): the pipeline only needs them for a follow-up.
        """
        key = story.key or dedup.story_key(story)
        with _translated(f"assign {key}"):
            known = self.conn.execute(
                "SELECT id, cluster_id, content_hash FROM dedup_stories WHERE story_key = ?",
                (key,),
            ).fetchone()
            if known is not None:
                found = self._seen_again(story, key, known, now, with_outlets)
            else:
                found = self._add(story, key, now, with_outlets)
        return found

    def peek(self, story: Story, *, now: datetime) -> ClusterAssignment:
        """What ``assign`` would answer now, recording nothing (previews, ``explain`` tools)."""
        key = story.key or dedup.story_key(story)
        with _translated(f"look up {key}"):
            known = self.conn.execute(
                "SELECT cluster_id, content_hash FROM dedup_stories WHERE story_key = ?", (key,)
            ).fetchone()
            if known is not None:
                is_update = known[1] != dedup.content_hash(story)
                return ClusterAssignment(
                    known[0], key, False, False, is_update, key, 1.0, self.outlets(known[0])
                )
            sig = similar.signature(story)
            best, score = self._best_match(sig, similar.band_keys(sig), now)
        outlet = story.outlet or story.feed_id
        if best is None:
            return ClusterAssignment(new_cluster_id(key), key, True, True, outlets=(outlet,))
        outlets = tuple(dict.fromkeys((*self.outlets(best.cluster_id), outlet)))
        return ClusterAssignment(
            best.cluster_id, key, False, True, False, best.story_key, score, outlets
        )

    def members(self, cluster_id: str) -> list[ClusterMember]:
        """The stories of ``cluster_id``, first seen first (empty when unknown or pruned)."""
        with _translated(f"members of {cluster_id}"):
            rows = self.conn.execute(
                "SELECT story_key, feed_id, outlet, url, title, seen_at FROM dedup_stories "
                "WHERE cluster_id = ? ORDER BY id",
                (cluster_id,),
            ).fetchall()
        return [
            ClusterMember(k, feed, outlet, url, title, datetime.fromtimestamp(seen, UTC))
            for k, feed, outlet, url, title, seen in rows
        ]

    def outlets(self, cluster_id: str, *, limit: int = MAX_OUTLETS) -> tuple[str, ...]:
        """The distinct outlets of ``cluster_id`` in first-seen order (at most ``limit``).

        Counted in SQL on the (cluster, id) index, so a large cluster costs no Python objects.
        """
        with _translated(f"outlets of {cluster_id}"):
            rows = self.conn.execute(
                "SELECT outlet FROM dedup_stories WHERE cluster_id = ? GROUP BY outlet "
                "ORDER BY min(id) LIMIT ?",
                (cluster_id, limit),
            ).fetchall()
        return tuple(str(row[0]) for row in rows)

    def cluster_of(self, story_key: str) -> str | None:
        """The cluster a stored story belongs to, or None."""
        with _translated(f"cluster of {story_key}"):
            row = self.conn.execute(
                "SELECT cluster_id FROM dedup_stories WHERE story_key = ?", (story_key,)
            ).fetchone()
        return str(row[0]) if row else None

    def prune(self, *, older_than: datetime, limit: int | None = None) -> int:
        """Forget stories first seen before ``older_than`` and emptied clusters. Does not commit.

        Returns the number of stories removed: at most ``limit`` (oldest first) when given, so a
        scheduler can prune in short transactions (call again until it returns 0) and never
        hold the write lock for long. Index keys are recomputed from the stored signatures and
        deleted in key order, so the cost follows what is pruned, not what is kept.
        """
        cutoff = older_than.timestamp()
        with _translated("prune"):
            old = self.conn.execute(
                "SELECT id, feed_id, indexed_s, sig FROM dedup_stories WHERE seen_at < ? "
                "ORDER BY seen_at LIMIT ?",
                (cutoff, NO_LIMIT if limit is None else limit),
            ).fetchall()
            self._delete_keys(old)
            self.conn.executemany(
                "DELETE FROM dedup_stories WHERE id = ?", [(row[0],) for row in old]
            )
            self.conn.execute(
                "DELETE FROM dedup_clusters WHERE last_seen_at < ? AND NOT EXISTS (SELECT 1 "
                "FROM dedup_stories AS s WHERE s.cluster_id = dedup_clusters.cluster_id)",
                (cutoff,),
            )
        if old:
            log.info("dedup_pruned", stories=len(old), older_than=older_than.isoformat())
        return len(old)

    def counts(self) -> dict[str, int]:
        """Stored stories, clusters and index keys (for metrics and the benchmark)."""
        with _translated("count"):
            return {
                table: int(self.conn.execute(f"SELECT count(*) FROM dedup_{table}").fetchone()[0])
                for table in ("stories", "clusters", "keys")
            }

    # --- internals ----------------------------------------------------------------------------

    def _seen_again(
        self, story: Story, key: str, known: tuple[Any, ...], now: datetime, with_outlets: bool
    ) -> ClusterAssignment:
        """A key already stored: an update when the text changed, else a plain repeat."""
        story_id, cluster_id, old_hash = int(known[0]), str(known[1]), str(known[2])
        new_hash = dedup.content_hash(story)
        if new_hash != old_hash:
            self._reindex(story_id, story, new_hash, now)
        return ClusterAssignment(
            cluster_id=cluster_id,
            story_key=key,
            is_new_cluster=False,
            is_new_story=False,
            is_update=new_hash != old_hash,
            similar_to=key,
            similarity=1.0,
            outlets=self.outlets(cluster_id) if with_outlets else (),
        )

    def _add(self, story: Story, key: str, now: datetime, with_outlets: bool) -> ClusterAssignment:
        sig = similar.signature(story)
        bands = similar.band_keys(sig)
        best, score = self._best_match(sig, bands, now)
        cluster_id = best.cluster_id if best else new_cluster_id(key)
        seen = now.timestamp()
        cursor = self.conn.execute(
            "INSERT INTO dedup_stories (story_key, cluster_id, feed_id, outlet, url, title, "
            "seen_at, indexed_s, content_hash, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                cluster_id,
                story.feed_id,
                story.outlet or story.feed_id,
                story.url,
                story.title,
                seen,
                int(seen),
                dedup.content_hash(story),
                sig.to_bytes(),
            ),
        )
        story_id = int(cursor.lastrowid or 0)
        self._insert_keys(story_id, bands, int(seen))
        self._touch_cluster(cluster_id, key, seen)
        return ClusterAssignment(
            cluster_id=cluster_id,
            story_key=key,
            is_new_cluster=best is None,
            is_new_story=True,
            similar_to=best.story_key if best else None,
            similarity=score,
            outlets=(
                (self.outlets(cluster_id) if with_outlets else ())
                if best
                else (story.outlet or story.feed_id,)
            ),
        )

    def _best_match(
        self, sig: similar.Signature, bands: Sequence[int], now: datetime
    ) -> tuple[_Candidate | None, float]:
        """The most similar candidate at or above the threshold (earliest story on ties)."""
        best: _Candidate | None = None
        best_score = 0.0
        for candidate in self._candidates(bands, now):
            score = similar.similarity(sig, candidate.sig)
            if score < self.threshold or score < best_score:
                continue
            if score > best_score or best is None or candidate.story_id < best.story_id:
                best, best_score = candidate, score
        return best, best_score

    def _candidates(self, bands: Sequence[int], now: datetime) -> Iterator[_Candidate]:
        """Stories sharing a band key, indexed within the window: most keys shared first, then
        newest first, at most ``max_candidates``."""
        if not bands:
            return
        since = int((now - timedelta(seconds=self.window_s)).timestamp())
        # Each key contributes only its newest ``PER_KEY_SCAN`` stories: a template's key
        # (boilerplate titles, a daily briefing) may be shared by thousands, and a full scan
        # per story would make assigning quadratic. Copies are recent, so they are kept.
        per_key = " UNION ALL ".join(
            "SELECT * FROM (SELECT story_id FROM dedup_keys WHERE band = ? AND seen_s >= ? "
            "ORDER BY seen_s DESC LIMIT ?)"
            for _ in bands
        )
        params: list[int] = []
        for band in bands:
            params += [band, since, PER_KEY_SCAN]
        # Rank by keys shared, then recency, on the key table alone (no blobs read), and read
        # signatures for the best few only.
        rows = self.conn.execute(
            "SELECT s.id, s.story_key, s.cluster_id, s.feed_id, s.sig FROM "
            f"(SELECT story_id, count(*) AS shared FROM ({per_key}) GROUP BY story_id "
            "ORDER BY shared DESC, story_id DESC LIMIT ?) AS c "
            "JOIN dedup_stories AS s ON s.id = c.story_id ORDER BY c.shared DESC, s.id DESC",
            (*params, self.max_candidates),
        ).fetchall()
        for story_id, key, cluster_id, feed_id, blob in rows:
            yield _Candidate(story_id, key, cluster_id, similar.Signature.from_bytes(blob, feed_id))

    def _insert_keys(self, story_id: int, bands: Sequence[int], seen_s: int) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO dedup_keys (band, seen_s, story_id) VALUES (?, ?, ?)",
            [(band, seen_s, story_id) for band in bands],
        )

    def _delete_keys(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Delete the index rows of stored stories ``(id, feed_id, indexed_s, sig)``."""
        doomed: list[tuple[int, int, int]] = []
        for story_id, feed_id, indexed_s, blob in rows:
            sig = similar.Signature.from_bytes(bytes(blob), str(feed_id))
            doomed += [(band, int(indexed_s), int(story_id)) for band in similar.band_keys(sig)]
        doomed.sort()  # B-tree order: neighbouring deletes touch the same pages
        self.conn.executemany(
            "DELETE FROM dedup_keys WHERE band = ? AND seen_s = ? AND story_id = ?", doomed
        )

    def _reindex(self, story_id: int, story: Story, new_hash: str, now: datetime) -> None:
        """An edited story: store its new text and index it under its new keys as of ``now``."""
        old = self.conn.execute(
            "SELECT id, feed_id, indexed_s, sig FROM dedup_stories WHERE id = ?", (story_id,)
        ).fetchall()
        self._delete_keys(old)
        sig = similar.signature(story)
        self.conn.execute(
            "UPDATE dedup_stories SET title = ?, url = ?, content_hash = ?, sig = ?, "
            "indexed_s = ?, updated_at = ? WHERE id = ?",
            (
                story.title,
                story.url,
                new_hash,
                sig.to_bytes(),
                int(now.timestamp()),
                now.timestamp(),
                story_id,
            ),
        )
        self._insert_keys(story_id, similar.band_keys(sig), int(now.timestamp()))

    def _touch_cluster(self, cluster_id: str, story_key: str, seen: float) -> None:
        self.conn.execute(
            "INSERT INTO dedup_clusters (cluster_id, first_story_key, first_seen_at, "
            "last_seen_at, size) VALUES (?, ?, ?, ?, 1) ON CONFLICT (cluster_id) DO UPDATE SET "
            "last_seen_at = max(last_seen_at, excluded.last_seen_at), size = size + 1",
            (cluster_id, story_key, seen, seen),
        )


def new_cluster_id(first_story_key: str) -> str:
    """A cluster id derived from its first story, so replaying a poll yields the same id."""
    return "cl_" + hashlib.sha256(first_story_key.encode("utf-8")).hexdigest()[:24]


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """sqlite3 errors leave as ``StoreError`` naming what the index was doing."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"dedup index: cannot {action}: {exc}") from exc
