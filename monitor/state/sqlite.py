"""SQLite state store: feed states, seen stories, the alert outbox and the dedup clusters.

One file, WAL mode, a versioned schema (``PRAGMA user_version``; migrations run in order at
open). The outbox is the hand-off between detection and delivery: a story is marked seen and
its alerts are queued in ONE transaction (``commit_stories``), so a crash either loses both (the
story is polled again) or keeps both (the alert is delivered later). Times are stored as UTC
epoch seconds.

The store owns the cluster tables too (``state.clusters``): it creates them at open and builds
the one ``ClusterIndex`` that works on them (``store.clusters``), on a runner that holds the
store's lock, so no caller ever sees the connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.detect import similar
from monitor.errors import StoreError
from monitor.models import Alert, FeedLease, FeedState, OutboxEntry, Story
from monitor.state import clusters as clusters_mod
from monitor.state import integrity, leases
from monitor.state.clusters import ClusterIndex

_MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE feeds (
        feed_id TEXT PRIMARY KEY,
        etag TEXT, last_modified TEXT, body_hash TEXT,
        last_status INTEGER, last_error TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_attempt_at REAL, last_success_at REAL, last_new_item_at REAL, next_poll_at REAL,
        health TEXT NOT NULL DEFAULT 'new',
        items_seen INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE stories (
        key TEXT PRIMARY KEY,
        feed_id TEXT NOT NULL,
        url TEXT, title TEXT NOT NULL,
        first_seen_at REAL NOT NULL
    );
    CREATE INDEX stories_first_seen ON stories(first_seen_at);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_key TEXT NOT NULL,
        destination_id TEXT NOT NULL,
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        sent_at REAL,
        last_error TEXT,
        fallback_sent INTEGER NOT NULL DEFAULT 0,
        UNIQUE (alert_key, destination_id)
    );
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE TABLE destinations (
        destination_id TEXT PRIMARY KEY,
        disabled_reason TEXT NOT NULL,
        disabled_at REAL NOT NULL
    );
    """,
    # 2: the cluster an alert belongs to (one alert per cluster, follow-ups as alert.updated)
    # and the destination's own id of a sent message (Slack's ts, for thread replies)
    """
    ALTER TABLE outbox ADD COLUMN cluster_id TEXT;
    ALTER TABLE outbox ADD COLUMN remote_ref TEXT;
    CREATE INDEX outbox_cluster ON outbox(cluster_id) WHERE cluster_id IS NOT NULL;
    """,
    # 3: a cheap digest of each story's title and summary, so an edit is noticed without
    # normalising or clustering every known story of a changed feed again
    """
    ALTER TABLE stories ADD COLUMN digest TEXT;
    """,
    # 4: the adaptive poll interval last chosen for a feed
    """
    ALTER TABLE feeds ADD COLUMN interval_s REAL;
    """,
    # 5: what each cluster remembers of its alerts, apart from the outbox rows (which
    # `outbox purge` deletes): the first alert.created per destination and the destination's
    # message id (Slack's ts). Filled from the outbox rows that exist today.
    """
    CREATE TABLE cluster_alerts (
        cluster_id TEXT NOT NULL,
        destination_id TEXT NOT NULL,
        alert_key TEXT NOT NULL,
        payload TEXT NOT NULL,
        remote_ref TEXT,
        sent_at REAL,
        created_at REAL NOT NULL,
        last_seen_at REAL NOT NULL,
        PRIMARY KEY (cluster_id, destination_id)
    );
    CREATE INDEX cluster_alerts_key ON cluster_alerts(alert_key, destination_id);
    CREATE INDEX cluster_alerts_last_seen ON cluster_alerts(last_seen_at);
    INSERT OR IGNORE INTO cluster_alerts (cluster_id, destination_id, alert_key, payload,
        remote_ref, sent_at, created_at, last_seen_at)
        SELECT cluster_id, destination_id, alert_key, payload, remote_ref, sent_at,
            created_at, updated_at
        FROM outbox WHERE event = 'alert.created' AND cluster_id IS NOT NULL ORDER BY id;
    UPDATE cluster_alerts SET last_seen_at = max(last_seen_at, coalesce((SELECT
        max(o.created_at) FROM outbox AS o WHERE o.cluster_id = cluster_alerts.cluster_id
        AND o.destination_id = cluster_alerts.destination_id), 0));
    """,
    # 6: feed leases with fencing tokens (the pull loop: who polls a feed, until when)
    """
    ALTER TABLE feeds ADD COLUMN lease_owner TEXT;
    ALTER TABLE feeds ADD COLUMN lease_until REAL;
    ALTER TABLE feeds ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: evidence snapshots of alerted stories (state/evidence.py), and the alerts citing them
    """
    CREATE TABLE IF NOT EXISTS evidence (
        story_key TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        text_sha256 TEXT NOT NULL,
        doc BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS evidence_created ON evidence(created_at);
    CREATE TABLE IF NOT EXISTS evidence_alerts (
        alert_key TEXT PRIMARY KEY,
        story_key TEXT NOT NULL REFERENCES evidence(story_key) ON DELETE CASCADE
    );
    CREATE INDEX IF NOT EXISTS evidence_alerts_story ON evidence_alerts(story_key);
    """,
)

_FEED_COLUMNS = [
    "feed_id", "etag", "last_modified", "body_hash", "last_status", "last_error",
    "consecutive_failures", "last_attempt_at", "last_success_at", "last_new_item_at",
    "next_poll_at", "health", "items_seen", "interval_s",
]  # fmt: skip
_FEED_TIMES = frozenset({"last_attempt_at", "last_success_at", "last_new_item_at", "next_poll_at"})
#: Between an alert's key and the resend counter of an operator's ``outbox resend --as-new``.
RESEND_MARK = "~resend-"
_OUTBOX_SELECT = (
    "SELECT id, payload, status, attempts, next_attempt_at, created_at, last_error, sent_at, "
    "fallback_sent FROM outbox"
)


class SqliteStore:
    """The embedded state store (satisfies ``ports.StateStore`` and so every smaller port)."""

    def __init__(
        self,
        path: Path | str,
        *,
        cluster_threshold: float = similar.DEFAULT_THRESHOLD,
        cluster_window_s: float = clusters_mod.DEFAULT_WINDOW_S,
        extra_schema: Iterable[Callable[[sqlite3.Connection], None]] = (),
    ):
        self.path = Path(path)
        self._lock = threading.RLock()
        # Only a missing file is a new install; an existing one must be a good database.
        existed = str(path) != ":memory:" and integrity.check_file(self.path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            if existed:
                self._check_existing()
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: keeps the dedup index hot
            self._applied = self._migrate()
            with self.transaction():  # a signature upgrade is all or nothing
                clusters_mod.ensure_schema(self.conn)
            for ensure in extra_schema:
                ensure(self.conn)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"store: cannot open {path}: {exc}") from exc
        self._clusters = ClusterIndex(
            _LockedRunner(self.conn, self._lock),
            threshold=cluster_threshold,
            window_s=cluster_window_s,
        )

    @property
    def clusters(self) -> ClusterIndex:
        """The cross-feed cluster index on this store's tables (``ports.Clusters``)."""
        return self._clusters

    # --- plumbing ---------------------------------------------------------------------------

    def _check_existing(self) -> None:
        try:
            integrity.check_database(self.conn, self.path)
        except StoreError:
            self.conn.close()
            raise

    def migrate(self) -> list[int]:
        """The versions applied by this store (at open: a SQLite file is migrated when opened)."""
        self._applied += self._migrate()
        return list(self._applied)

    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    def _migrate(self) -> list[int]:
        applied: list[int] = []
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(_MIGRATIONS):
            raise StoreError(
                f"store: {self.path} has schema version {version}, newer than this program "
                f"({len(_MIGRATIONS)}); upgrade sanctions-monitor"
            )
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in filter(str.strip, script.split(";")):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")
            applied.append(number)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error; re-entrant per thread."""
        with self._lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"store: {exc}") from exc
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store: {exc}") from exc

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def check_writable(self) -> None:
        """Raise ``StoreError`` unless a write transaction can start and commit (readiness)."""
        with self.transaction() as conn:
            conn.execute("PRAGMA user_version").fetchone()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # --- feeds ------------------------------------------------------------------------------

    def feed_state(self, feed_id: str) -> FeedState:
        rows = self._query(
            f"SELECT {', '.join(_FEED_COLUMNS)} FROM feeds WHERE feed_id = ?", (feed_id,)
        )
        return _feed_from_row(rows[0]) if rows else FeedState(feed_id=feed_id)

    def feed_states(self) -> list[FeedState]:
        rows = self._query(f"SELECT {', '.join(_FEED_COLUMNS)} FROM feeds ORDER BY feed_id")
        return [_feed_from_row(row) for row in rows]

    def save_feed_state(self, state: FeedState, *, lease: FeedLease | None = None) -> None:
        """Store ``state``; with ``lease``, only while its token is current (else ``LeaseLost``)."""
        values = [_to_db(name, getattr(state, name)) for name in _FEED_COLUMNS]
        if lease is not None:
            with self.transaction() as conn:
                sql = leases.fenced_update_sql(_FEED_COLUMNS, "?")
                cursor = conn.execute(sql, [*values[1:], state.feed_id, lease.token, lease.owner])
                leases.check_fenced(cursor.rowcount, lease)
            return
        updates = ", ".join(f"{name} = excluded.{name}" for name in _FEED_COLUMNS[1:])
        self._write(  # an upsert, not REPLACE: the lease columns of the row stay as they are
            f"INSERT INTO feeds ({', '.join(_FEED_COLUMNS)}) VALUES "
            f"({', '.join('?' for _ in _FEED_COLUMNS)}) "
            f"ON CONFLICT (feed_id) DO UPDATE SET {updates}",
            values,
        )

    def claim_feeds(
        self, owner: str, feed_ids: Sequence[str], *, limit: int, lease_s: float
    ) -> list[FeedLease]:
        """Lease up to ``limit`` due feeds among ``feed_ids`` (see ``state.leases``)."""
        if not feed_ids or limit <= 0:
            return []
        now = datetime.now(UTC).timestamp()
        with self.transaction() as conn:
            conn.executemany(leases.SQLITE_NEW_FEED, [(feed_id,) for feed_id in feed_ids])
            rows = conn.execute(
                leases.sqlite_claim_sql(len(feed_ids)),
                (owner, now, lease_s, *feed_ids, now, now, limit),
            ).fetchall()
        return leases.leases_from_rows(rows)

    def release_feed(self, lease: FeedLease) -> None:
        """End ``lease`` now (shutdown): the feed is free for any replica at once."""
        self._write(
            "UPDATE feeds SET lease_until = ? WHERE feed_id = ? AND lease_token = ?",
            (datetime.now(UTC).timestamp() - 1e-3, lease.feed_id, lease.token),
        )

    def feed_leases(self) -> dict[str, FeedLease]:
        """The live and past lease of every leased feed (the ``feeds`` table shows them)."""
        rows = self._query(
            "SELECT feed_id, lease_owner, lease_token, lease_until FROM feeds "
            "WHERE lease_owner IS NOT NULL"
        )
        return {lease.feed_id: lease for lease in leases.leases_from_rows(rows)}

    # --- stories ----------------------------------------------------------------------------

    def unseen(self, stories: Sequence[Story]) -> list[Story]:
        """The stories whose key is not stored yet, in their original order, without repeats."""
        keys = list(dict.fromkeys(s.key for s in stories))
        seen: set[str] = set()
        for chunk_start in range(0, len(keys), 500):
            chunk = keys[chunk_start : chunk_start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._query(f"SELECT key FROM stories WHERE key IN ({marks})", chunk)
            seen.update(row[0] for row in rows)
        fresh: dict[str, Story] = {}
        for story in stories:
            if story.key not in seen and story.key not in fresh:
                fresh[story.key] = story
        return list(fresh.values())

    def stored_digests(self, keys: Sequence[str]) -> dict[str, str | None]:
        """``Story.digest`` of each stored key among ``keys`` (``None``: stored before schema 3).

        For ``triage`` and for the parser pool, which skips an item it has parsed before when
        the store still holds its story unchanged.
        """
        stored: dict[str, str | None] = {}
        for chunk_start in range(0, len(keys), 500):
            chunk = keys[chunk_start : chunk_start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._query(f"SELECT key, digest FROM stories WHERE key IN ({marks})", chunk)
            stored.update((key, digest) for key, digest in rows)
        return stored

    def triage(self, stories: Sequence[Story]) -> tuple[list[Story], list[Story]]:
        """``(new, edited)``: stories never seen, and seen ones whose title or summary changed.

        Both in their original order, without repeated keys. A stored story without a digest
        (written before schema 3) counts as edited once; the caller decides if it really is.
        """
        by_key = {s.key: s for s in reversed(stories)}  # the first occurrence of a key wins
        keys = list(by_key)
        stored = self.stored_digests(keys)
        new: list[Story] = []
        edited: list[Story] = []
        for key in reversed(keys):
            story = by_key[key]
            if key not in stored:
                new.append(story)
            elif stored[key] != story_digest(story):
                edited.append(story)
        return new, edited

    def commit_stories(
        self,
        stories: Sequence[Story],
        alerts: Sequence[Alert],
        now: datetime,
        *,
        edited: Sequence[Story] = (),
    ) -> int:
        """Mark ``stories`` seen (and ``edited`` ones re-read) and queue ``alerts`` atomically.

        Returns the number of alerts newly queued (a repeated idempotency key is dropped).
        """
        queued = 0
        ts = now.timestamp()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO stories (key, feed_id, url, title, first_seen_at, digest) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(s.key, s.feed_id, s.url, s.title, ts, story_digest(s)) for s in stories],
            )
            conn.executemany(
                "UPDATE stories SET title = ?, url = ?, digest = ? WHERE key = ?",
                [(s.title, s.url, story_digest(s), s.key) for s in edited],
            )
            for alert in alerts:
                queued += self._enqueue(conn, alert, ts)
        return queued

    def enqueue(self, alerts: Sequence[Alert], now: datetime) -> int:
        """Queue alerts that belong to no new story (health events, follow-ups)."""
        with self.transaction() as conn:
            return sum(self._enqueue(conn, alert, now.timestamp()) for alert in alerts)

    @staticmethod
    def _enqueue(conn: sqlite3.Connection, alert: Alert, ts: float) -> int:
        if alert.cluster_id:
            _remember(conn, alert, ts)
        cursor = conn.execute(
            "INSERT OR IGNORE INTO outbox (alert_key, destination_id, event, payload, "
            "next_attempt_at, created_at, updated_at, cluster_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                alert.key,
                alert.destination_id,
                alert.event,
                alert.to_json(),
                ts,
                ts,
                ts,
                alert.cluster_id or None,
            ),
        )
        return cursor.rowcount

    def prune_stories(self, older_than: datetime) -> int:
        return self._write("DELETE FROM stories WHERE first_seen_at < ?", (older_than.timestamp(),))

    def story_count(self) -> int:
        return int(self._query("SELECT count(*) FROM stories")[0][0])

    def story_counts_since(self, since: datetime) -> dict[str, int]:
        """Stories first seen at or after ``since``, per feed id (``feeds`` shows items per day)."""
        rows = self._query(
            "SELECT feed_id, count(*) FROM stories WHERE first_seen_at >= ? GROUP BY feed_id",
            (since.timestamp(),),
        )
        return {feed_id: int(count) for feed_id, count in rows}

    # --- outbox -----------------------------------------------------------------------------

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[OutboxEntry]:
        rows = self._query(
            f"{_OUTBOX_SELECT} WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY id LIMIT ?",
            (now.timestamp(), limit),
        )
        return [_entry_from_row(row) for row in rows]

    def next_due_at(self) -> datetime | None:
        rows = self._query("SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'")
        return _from_ts(rows[0][0])

    def mark_sent(self, entry_id: int, now: datetime, *, remote_ref: str | None = None) -> None:
        """The row was delivered; an ``alert.created`` also leaves its ``remote_ref`` (Slack's
        ``ts``) in its cluster's memory, so follow-ups find the thread after a purge."""
        ts = now.timestamp()
        with self.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, updated_at = ?, "
                "attempts = attempts + 1, last_error = NULL, remote_ref = ? WHERE id = ?",
                (ts, ts, remote_ref, entry_id),
            )
            conn.execute(
                "UPDATE cluster_alerts SET remote_ref = ?, sent_at = ? WHERE (alert_key, "
                "destination_id) IN (SELECT alert_key, destination_id FROM outbox WHERE id = ? "
                "AND event = 'alert.created')",
                (remote_ref, ts, entry_id),
            )

    def cluster_alerts(self, cluster_id: str) -> dict[str, Alert]:
        """The first ``alert.created`` of ``cluster_id`` per destination, whatever became of
        its outbox row (pending, sent, dead or purged): the cluster's own memory."""
        rows = self._query(
            "SELECT destination_id, payload FROM cluster_alerts WHERE cluster_id = ?",
            (cluster_id,),
        )
        return {dest: Alert.from_json(payload) for dest, payload in rows}

    def delivery_of(self, alert_key: str, destination_id: str) -> tuple[str, str | None] | None:
        """``(status, remote_ref)`` of one alert at one destination, or None if never queued.

        A purged row answers from the cluster memory: ``("sent", remote_ref)``.
        """
        rows = self._query(
            "SELECT status, remote_ref FROM outbox WHERE alert_key = ? AND destination_id = ?",
            (alert_key, destination_id),
        )
        if rows:
            return str(rows[0][0]), rows[0][1]
        remembered = self._query(
            "SELECT remote_ref FROM cluster_alerts WHERE alert_key = ? AND destination_id = ?",
            (alert_key, destination_id),
        )
        return ("sent", remembered[0][0]) if remembered else None

    def prune_cluster_alerts(self, older_than: datetime) -> int:
        """Forget what clusters last active before ``older_than`` remember of their alerts.

        Call it with the dedup retention cutoff: by then no new copy can join those clusters.
        """
        return self._write(
            "DELETE FROM cluster_alerts WHERE last_seen_at < ?", (older_than.timestamp(),)
        )

    def mark_retry(
        self, entry_id: int, error: str, next_attempt_at: datetime, *, count_attempt: bool = True
    ) -> None:
        self._write(
            "UPDATE outbox SET next_attempt_at = ?, last_error = ?, updated_at = ?, "
            "attempts = attempts + ? WHERE id = ? AND status = 'pending'",
            (
                next_attempt_at.timestamp(),
                error,
                datetime.now(UTC).timestamp(),
                1 if count_attempt else 0,
                entry_id,
            ),
        )

    def mark_dead(self, entry_id: int, error: str, now: datetime) -> None:
        self._write(
            "UPDATE outbox SET status = 'dead', last_error = ?, updated_at = ?, "
            "attempts = attempts + 1 WHERE id = ?",
            (error, now.timestamp(), entry_id),
        )

    def mark_fallback_sent(self, entry_id: int) -> None:
        self._write("UPDATE outbox SET fallback_sent = 1 WHERE id = ?", (entry_id,))

    def outbox(self, status: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        rows = self._query(f"{_OUTBOX_SELECT} {where} ORDER BY id DESC LIMIT ?", [*params, limit])
        return [_entry_from_row(row) for row in rows]

    def outbox_entry(self, entry_id: int) -> OutboxEntry | None:
        rows = self._query(f"{_OUTBOX_SELECT} WHERE id = ?", (entry_id,))
        return _entry_from_row(rows[0]) if rows else None

    def requeue(self, entry_ids: Iterable[int], now: datetime) -> int:
        """Make rows due ``now``: a sent or dead row is queued again with its attempts reset;
        a pending row waiting out a backoff becomes due at once (its attempts are kept)."""
        ts = now.timestamp()
        with self.transaction() as conn:
            return sum(
                conn.execute(
                    "UPDATE outbox SET next_attempt_at = ?, updated_at = ?, "
                    "attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END, "
                    "fallback_sent = CASE WHEN status = 'pending' THEN fallback_sent ELSE 0 END, "
                    "status = 'pending' WHERE id = ?",
                    (ts, ts, entry_id),
                ).rowcount
                for entry_id in entry_ids
            )

    def resend_as_new(self, entry_id: int, now: datetime) -> OutboxEntry | None:
        """Queue a copy of a row under a new key (``<key>~resend-N``), so its ``webhook-id`` is
        new and a receiver that deduplicates shows it; ``None`` for an unknown id."""
        entry = self.outbox_entry(entry_id)
        if entry is None:
            return None
        base = entry.alert.key.split(RESEND_MARK, 1)[0]
        with self.transaction() as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM outbox WHERE destination_id = ? AND alert_key LIKE ?",
                (entry.destination_id, f"{base}{RESEND_MARK}%"),
            ).fetchone()
            alert = replace(entry.alert, key=f"{base}{RESEND_MARK}{int(count) + 1}")
            self._enqueue(conn, alert, now.timestamp())
            (new_id,) = conn.execute(
                "SELECT id FROM outbox WHERE alert_key = ? AND destination_id = ?",
                (alert.key, alert.destination_id),
            ).fetchone()
        return self.outbox_entry(int(new_id))

    def requeue_dead(self, now: datetime) -> int:
        ts = now.timestamp()
        return self._write(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, updated_at = ?, "
            "attempts = 0, fallback_sent = 0 WHERE status = 'dead'",
            (ts, ts),
        )

    def purge_sent(self, older_than: datetime) -> int:
        return self._write(
            "DELETE FROM outbox WHERE status = 'sent' AND sent_at < ?", (older_than.timestamp(),)
        )

    def outbox_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "sent": 0, "dead": 0}
        for status, count in self._query("SELECT status, count(*) FROM outbox GROUP BY status"):
            counts[status] = count
        return counts

    def oldest_pending_at(self) -> datetime | None:
        rows = self._query("SELECT min(created_at) FROM outbox WHERE status = 'pending'")
        return _from_ts(rows[0][0])

    # --- destinations -----------------------------------------------------------------------

    def disabled_destinations(self) -> dict[str, str]:
        rows = self._query("SELECT destination_id, disabled_reason FROM destinations")
        return {dest: reason for dest, reason in rows}

    def disable_destination(self, destination_id: str, reason: str, now: datetime) -> None:
        self._write(
            "INSERT OR REPLACE INTO destinations (destination_id, disabled_reason, disabled_at) "
            "VALUES (?, ?, ?)",
            (destination_id, reason, now.timestamp()),
        )

    def enable_destination(self, destination_id: str) -> None:
        self._write("DELETE FROM destinations WHERE destination_id = ?", (destination_id,))

    # --- store copy (``state.copy``) --------------------------------------------------------

    def table_rows(
        self, table: str, where: str | None, params: Sequence[Any], *, batch: int
    ) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
        """The rows of ``table`` (optionally filtered) in batches, with their column names."""
        with self._lock:
            cursor = self.conn.execute(
                f"SELECT * FROM {table}" + (f" WHERE {where}" if where else ""), params
            )
            columns = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(batch):
                yield columns, rows

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        marks = ", ".join("?" for _ in columns)
        with self.transaction() as conn:
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def after_copy(self) -> None:
        """Nothing to do: SQLite's AUTOINCREMENT follows the largest id inserted."""

    def is_empty(self) -> bool:
        tables = ("feeds", "stories", "outbox", "dedup_stories")
        return all(not self._query(f"SELECT 1 FROM {table} LIMIT 1") for table in tables)


class _LockedRunner:
    """The cluster index's view of the connection: statements only, under the store's lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.executemany(sql, parameters)


def _remember(conn: sqlite3.Connection, alert: Alert, ts: float) -> None:
    """Keep the cluster's memory of its alerts: the first ``alert.created`` per destination
    wins; any later alert of the cluster there (a follow-up) marks the cluster active."""
    if alert.event == "alert.created":
        conn.execute(
            "INSERT INTO cluster_alerts (cluster_id, destination_id, alert_key, payload, "
            "created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cluster_id, "
            "destination_id) DO UPDATE SET last_seen_at = max(last_seen_at, excluded.last_seen_at)",
            (alert.cluster_id, alert.destination_id, alert.key, alert.to_json(), ts, ts),
        )
    else:
        conn.execute(
            "UPDATE cluster_alerts SET last_seen_at = max(last_seen_at, ?) "
            "WHERE cluster_id = ? AND destination_id = ?",
            (ts, alert.cluster_id, alert.destination_id),
        )


def story_digest(story: Story) -> str:
    """A short hash of the raw title and summary: equal text, equal digest (``Story.digest``)."""
    return story.digest


# --- row conversion --------------------------------------------------------------------------


def _to_db(name: str, value: Any) -> Any:
    return value.timestamp() if name in _FEED_TIMES and value is not None else value


def _from_ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _feed_from_row(row: tuple[Any, ...]) -> FeedState:
    values = {
        name: _from_ts(value) if name in _FEED_TIMES else value
        for name, value in zip(_FEED_COLUMNS, row, strict=True)
    }
    return FeedState(**values)  # type: ignore[arg-type]  # columns mirror the fields


def _entry_from_row(row: tuple[Any, ...]) -> OutboxEntry:
    entry_id, payload, status, attempts, next_at, created, error, sent, fallback = row
    return OutboxEntry(
        id=entry_id,
        alert=Alert.from_json(payload),
        status=status,
        attempts=attempts,
        next_attempt_at=datetime.fromtimestamp(next_at, UTC),
        created_at=datetime.fromtimestamp(created, UTC),
        last_error=error,
        sent_at=_from_ts(sent),
        fallback_sent=bool(fallback),
    )
