"""PostgreSQL state store: the same ports as ``SqliteStore``, shared by N replicas.

For the composition root (``state.open_store`` with a ``postgresql://`` URL). The tables and
their meaning are those of the SQLite store (``pg_migrations.py`` has the schema); times are
UTC epoch seconds. Connections come from a small ``psycopg_pool`` pool in autocommit mode;
``transaction()`` checks one out for the calling thread and runs ``BEGIN`` … ``COMMIT`` on it,
so the one-commit rule of ``commit_stories`` holds exactly as in SQLite. Every session gets
``lock_timeout`` and ``statement_timeout``, so a stuck lock or query fails (``StoreError``)
instead of hanging a poll. Every psycopg error leaves as ``StoreError``; the DSN's password
never appears in a message.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from monitor.detect import similar
from monitor.errors import StoreError
from monitor.models import Alert, FeedLease, FeedState, OutboxEntry, Story
from monitor.state import clusters as clusters_mod
from monitor.state import leases, pg_migrations
from monitor.state.open import redact_url
from monitor.state.pg_clusters import PgClusterIndex, PgRunner
from monitor.state.pg_outbox import Conn, enqueue_alert
from monitor.state.sqlite import (
    _FEED_COLUMNS,
    _OUTBOX_SELECT,
    RESEND_MARK,
    _entry_from_row,
    _feed_from_row,
    _from_ts,
    _to_db,
    story_digest,
)


class PostgresStore:
    """The shared state store (satisfies ``ports.StateStore``)."""

    def __init__(
        self,
        url: str,
        *,
        cluster_threshold: float = similar.DEFAULT_THRESHOLD,
        cluster_window_s: float = clusters_mod.DEFAULT_WINDOW_S,
        pool_size: int = 4,
        connect_timeout_s: float = 10.0,
        lock_timeout_s: float = 10.0,
        statement_timeout_s: float = 60.0,
        migrate: bool = True,
        replica_id: str | None = None,
    ) -> None:
        self.url = url
        self.shown_url = redact_url(url)
        self.replica_id = replica_id or f"{socket.gethostname()}:{os.getpid()}"
        self._timeouts = (int(lock_timeout_s * 1000), int(statement_timeout_s * 1000))
        self._local = threading.local()
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name="sanctions-monitor",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
            if migrate:
                self.migrate()
            else:
                with self._pool.connection() as conn:
                    pg_migrations.refuse_newer(pg_migrations.schema_version(conn))
        except (psycopg.Error, PoolTimeout) as exc:
            self._pool.close()
            raise StoreError(f"store: cannot open {self.shown_url}: {_reason(exc)}") from exc
        except StoreError:
            self._pool.close()
            raise
        self._clusters = PgClusterIndex(
            PgRunner(self._connection), threshold=cluster_threshold, window_s=cluster_window_s
        )

    # --- plumbing ---------------------------------------------------------------------------

    def _configure(self, conn: Conn) -> None:
        lock_ms, statement_ms = self._timeouts
        conn.execute(f"SET lock_timeout = {lock_ms}")
        conn.execute(f"SET statement_timeout = {statement_ms}")

    def migrate(self) -> list[int]:
        """Apply pending migrations (see ``pg_migrations``); the versions this call applied."""
        with self._pool.connection() as conn:
            return pg_migrations.migrate(conn, applied_by=self.replica_id)

    def schema_version(self) -> int:
        with self._connection() as conn:
            return pg_migrations.schema_version(conn)

    @property
    def clusters(self) -> PgClusterIndex:
        """The cross-feed cluster index on this store's tables (``ports.Clusters``)."""
        return self._clusters

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """``BEGIN`` … ``COMMIT`` on one pooled connection, rolled back on any error;
        re-entrant per thread (an inner call joins the outer transaction)."""
        current: Conn | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self._translated(), self._pool.connection() as conn, conn.transaction():
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        """The thread's transaction connection if one is open, else a pooled autocommit one."""
        current: Conn | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self._translated(), self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise StoreError(f"store: {self.shown_url}: {_reason(exc)}") from exc
        except PoolTimeout as exc:
            raise StoreError(f"store: {self.shown_url}: no connection: {exc}") from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def check_writable(self) -> None:
        """Raise ``StoreError`` unless a write transaction can start and commit (readiness)."""
        with self.transaction() as conn:
            conn.execute("SELECT txid_current()").fetchone()

    def close(self) -> None:
        self._pool.close()

    # --- feeds ------------------------------------------------------------------------------

    def feed_state(self, feed_id: str) -> FeedState:
        rows = self._query(
            f"SELECT {', '.join(_FEED_COLUMNS)} FROM feeds WHERE feed_id = %s", (feed_id,)
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
                sql = leases.fenced_update_sql(_FEED_COLUMNS, "%s")
                cursor = conn.execute(sql, [*values[1:], state.feed_id, lease.token, lease.owner])
                leases.check_fenced(cursor.rowcount, lease)
            return
        updates = ", ".join(f"{name} = excluded.{name}" for name in _FEED_COLUMNS[1:])
        self._write(
            f"INSERT INTO feeds ({', '.join(_FEED_COLUMNS)}) VALUES "
            f"({', '.join('%s' for _ in _FEED_COLUMNS)}) "
            f"ON CONFLICT (feed_id) DO UPDATE SET {updates}",
            values,
        )

    def claim_feeds(
        self, owner: str, feed_ids: Sequence[str], *, limit: int, lease_s: float
    ) -> list[FeedLease]:
        """Lease up to ``limit`` due feeds among ``feed_ids``: one ``SKIP LOCKED`` statement,
        the database's clock (see ``state.leases``)."""
        if not feed_ids or limit <= 0:
            return []
        with self.transaction() as conn:
            conn.execute(leases.PG_NEW_FEEDS, (list(feed_ids),))
            rows = conn.execute(leases.PG_CLAIM, (owner, lease_s, list(feed_ids), limit)).fetchall()
        return leases.leases_from_rows(rows)

    def release_feed(self, lease: FeedLease) -> None:
        """End ``lease`` now (shutdown): the feed is free for any replica at once."""
        self._write(
            "UPDATE feeds SET lease_until = extract(epoch FROM clock_timestamp()) - 0.001 "
            "WHERE feed_id = %s AND lease_token = %s",
            (lease.feed_id, lease.token),
        )

    def feed_leases(self) -> dict[str, FeedLease]:
        rows = self._query(
            "SELECT feed_id, lease_owner, lease_token, lease_until FROM feeds "
            "WHERE lease_owner IS NOT NULL"
        )
        return {lease.feed_id: lease for lease in leases.leases_from_rows(rows)}

    # --- stories ----------------------------------------------------------------------------

    def unseen(self, stories: Sequence[Story]) -> list[Story]:
        """The stories whose key is not stored yet, in their original order, without repeats."""
        keys = list(dict.fromkeys(s.key for s in stories))
        seen = {
            row[0] for row in self._query("SELECT key FROM stories WHERE key = ANY(%s)", (keys,))
        }
        fresh: dict[str, Story] = {}
        for story in stories:
            if story.key not in seen:
                fresh.setdefault(story.key, story)
        return list(fresh.values())

    def stored_digests(self, keys: Sequence[str]) -> dict[str, str | None]:
        """``Story.digest`` of each stored key among ``keys`` (one ``= ANY`` lookup)."""
        rows = self._query("SELECT key, digest FROM stories WHERE key = ANY(%s)", (list(keys),))
        return dict(rows)

    def triage(self, stories: Sequence[Story]) -> tuple[list[Story], list[Story]]:
        """``(new, edited)`` as ``SqliteStore.triage``."""
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
        """Mark ``stories`` seen (and ``edited`` ones re-read) and queue ``alerts`` atomically."""
        ts = now.timestamp()
        with self.transaction() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO stories (key, feed_id, url, title, first_seen_at, digest) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                [(s.key, s.feed_id, s.url, s.title, ts, story_digest(s)) for s in stories],
            )
            cur.executemany(
                "UPDATE stories SET title = %s, url = %s, digest = %s WHERE key = %s",
                [(s.title, s.url, story_digest(s), s.key) for s in edited],
            )
            return sum(enqueue_alert(conn, alert, ts) for alert in alerts)

    def enqueue(self, alerts: Sequence[Alert], now: datetime) -> int:
        """Queue alerts that belong to no new story (health events, follow-ups)."""
        with self.transaction() as conn:
            return sum(enqueue_alert(conn, alert, now.timestamp()) for alert in alerts)

    def prune_stories(self, older_than: datetime) -> int:
        return self._write(
            "DELETE FROM stories WHERE first_seen_at < %s", (older_than.timestamp(),)
        )

    def story_count(self) -> int:
        return int(self._query("SELECT count(*) FROM stories")[0][0])

    def story_counts_since(self, since: datetime) -> dict[str, int]:
        rows = self._query(
            "SELECT feed_id, count(*) FROM stories WHERE first_seen_at >= %s GROUP BY feed_id",
            (since.timestamp(),),
        )
        return {feed_id: int(count) for feed_id, count in rows}

    # --- outbox -----------------------------------------------------------------------------

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[OutboxEntry]:
        rows = self._query(
            f"{_OUTBOX_SELECT} WHERE status = 'pending' AND next_attempt_at <= %s "
            "ORDER BY id LIMIT %s",
            (now.timestamp(), limit),
        )
        return [_entry_from_row(row) for row in rows]

    def next_due_at(self) -> datetime | None:
        rows = self._query("SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'")
        return _from_ts(rows[0][0])

    def mark_sent(self, entry_id: int, now: datetime, *, remote_ref: str | None = None) -> None:
        """Delivered; an ``alert.created`` also leaves ``remote_ref`` in its cluster's memory."""
        ts = now.timestamp()
        with self.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = %s, updated_at = %s, "
                "attempts = attempts + 1, last_error = NULL, remote_ref = %s WHERE id = %s",
                (ts, ts, remote_ref, entry_id),
            )
            conn.execute(
                "UPDATE cluster_alerts AS m SET remote_ref = %s, sent_at = %s FROM outbox AS o "
                "WHERE o.id = %s AND o.event = 'alert.created' AND m.alert_key = o.alert_key "
                "AND m.destination_id = o.destination_id",
                (remote_ref, ts, entry_id),
            )

    def cluster_alerts(self, cluster_id: str) -> dict[str, Alert]:
        """The cluster's memory: its first ``alert.created`` per destination (see ports)."""
        rows = self._query(
            "SELECT destination_id, payload FROM cluster_alerts WHERE cluster_id = %s",
            (cluster_id,),
        )
        return {dest: Alert.from_json(payload) for dest, payload in rows}

    def delivery_of(self, alert_key: str, destination_id: str) -> tuple[str, str | None] | None:
        """``(status, remote_ref)``; a purged ``alert.created`` answers from the memory."""
        rows = self._query(
            "SELECT status, remote_ref FROM outbox WHERE alert_key = %s AND destination_id = %s "
            "UNION ALL SELECT 'sent', remote_ref FROM cluster_alerts WHERE alert_key = %s "
            "AND destination_id = %s LIMIT 1",
            (alert_key, destination_id, alert_key, destination_id),
        )
        return (str(rows[0][0]), rows[0][1]) if rows else None

    def prune_cluster_alerts(self, older_than: datetime) -> int:
        return self._write(
            "DELETE FROM cluster_alerts WHERE last_seen_at < %s", (older_than.timestamp(),)
        )

    def mark_retry(
        self, entry_id: int, error: str, next_attempt_at: datetime, *, count_attempt: bool = True
    ) -> None:
        self._write(
            "UPDATE outbox SET next_attempt_at = %s, last_error = %s, updated_at = %s, "
            "attempts = attempts + %s WHERE id = %s AND status = 'pending'",
            (next_attempt_at.timestamp(), error, datetime.now(UTC).timestamp(),
             1 if count_attempt else 0, entry_id),
        )  # fmt: skip

    def mark_dead(self, entry_id: int, error: str, now: datetime) -> None:
        self._write(
            "UPDATE outbox SET status = 'dead', last_error = %s, updated_at = %s, "
            "attempts = attempts + 1 WHERE id = %s",
            (error, now.timestamp(), entry_id),
        )

    def mark_fallback_sent(self, entry_id: int) -> None:
        self._write("UPDATE outbox SET fallback_sent = 1 WHERE id = %s", (entry_id,))

    def outbox(self, status: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        where, params = ("WHERE status = %s", [status]) if status else ("", [])
        rows = self._query(f"{_OUTBOX_SELECT} {where} ORDER BY id DESC LIMIT %s", [*params, limit])
        return [_entry_from_row(row) for row in rows]

    def outbox_entry(self, entry_id: int) -> OutboxEntry | None:
        rows = self._query(f"{_OUTBOX_SELECT} WHERE id = %s", (entry_id,))
        return _entry_from_row(rows[0]) if rows else None

    def requeue(self, entry_ids: Iterable[int], now: datetime) -> int:
        ts = now.timestamp()
        return self._write(
            "UPDATE outbox SET status = 'pending', next_attempt_at = %s, updated_at = %s, "
            "attempts = 0, fallback_sent = 0 WHERE id = ANY(%s) AND status != 'pending'",
            (ts, ts, list(entry_ids)),
        )

    def resend_as_new(self, entry_id: int, now: datetime) -> OutboxEntry | None:
        """A copy of a row under a new key (``<key>~resend-N``), as ``SqliteStore``'s."""
        entry = self.outbox_entry(entry_id)
        if entry is None:
            return None
        base = entry.alert.key.split(RESEND_MARK, 1)[0]
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT count(*) FROM outbox WHERE destination_id = %s AND alert_key LIKE %s",
                (entry.destination_id, f"{base}{RESEND_MARK}%"),
            ).fetchone()
            alert = replace(entry.alert, key=f"{base}{RESEND_MARK}{int(row[0]) + 1}")  # type: ignore[index]
            enqueue_alert(conn, alert, now.timestamp())
            found = conn.execute(
                "SELECT id FROM outbox WHERE alert_key = %s AND destination_id = %s",
                (alert.key, alert.destination_id),
            ).fetchone()
        return self.outbox_entry(int(found[0])) if found else None

    def requeue_dead(self, now: datetime) -> int:
        ts = now.timestamp()
        return self._write(
            "UPDATE outbox SET status = 'pending', next_attempt_at = %s, updated_at = %s, "
            "attempts = 0, fallback_sent = 0 WHERE status = 'dead'",
            (ts, ts),
        )

    def purge_sent(self, older_than: datetime) -> int:
        return self._write(
            "DELETE FROM outbox WHERE status = 'sent' AND sent_at < %s", (older_than.timestamp(),)
        )

    def outbox_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "sent": 0, "dead": 0}
        for status, count in self._query("SELECT status, count(*) FROM outbox GROUP BY status"):
            counts[status] = int(count)
        return counts

    def oldest_pending_at(self) -> datetime | None:
        rows = self._query("SELECT min(created_at) FROM outbox WHERE status = 'pending'")
        return _from_ts(rows[0][0])

    # --- destinations -----------------------------------------------------------------------

    def disabled_destinations(self) -> dict[str, str]:
        rows = self._query("SELECT destination_id, disabled_reason FROM destinations")
        return dict(rows)

    def disable_destination(self, destination_id: str, reason: str, now: datetime) -> None:
        self._write(
            "INSERT INTO destinations (destination_id, disabled_reason, disabled_at) "
            "VALUES (%s, %s, %s) ON CONFLICT (destination_id) DO UPDATE SET "
            "disabled_reason = excluded.disabled_reason, disabled_at = excluded.disabled_at",
            (destination_id, reason, now.timestamp()),
        )

    def enable_destination(self, destination_id: str) -> None:
        self._write("DELETE FROM destinations WHERE destination_id = %s", (destination_id,))

    # --- store copy (``state.copy``) --------------------------------------------------------

    def table_rows(
        self, table: str, where: str | None, params: Sequence[Any], *, batch: int
    ) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
        """The rows of ``table`` (optionally filtered, ``?`` placeholders) in batches."""
        sql = f"SELECT * FROM {table}" + (f" WHERE {where.replace('?', '%s')}" if where else "")
        with self.transaction() as conn, conn.cursor(name=f"copy_{table}") as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(batch):
                yield [d.name for d in cursor.description or ()], rows

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        marks = ", ".join("%s" for _ in columns)
        with self.transaction() as conn, conn.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def after_copy(self) -> None:
        """Move the id sequences past the copied ids, so new rows do not collide."""
        with self.transaction() as conn:
            for table in ("outbox", "dedup_stories"):
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )

    def is_empty(self) -> bool:
        tables = ("feeds", "stories", "outbox", "dedup_stories")
        return all(not self._query(f"SELECT 1 FROM {table} LIMIT 1") for table in tables)


def _reason(exc: BaseException) -> str:
    """The first line of a driver error (psycopg messages carry a multi-line DETAIL)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
