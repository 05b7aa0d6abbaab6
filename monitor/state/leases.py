"""Feed leases with fencing tokens, on SQLite and PostgreSQL (for the stores only).

For the pull loop of SCALE-OUT.md: ``claim_feeds`` takes up to ``limit`` due feeds among the
replica's configured ones whose lease is free or expired, sets ``lease_owner``/``lease_until``
and increments ``lease_token``; a later ``save_feed_state(..., lease=...)`` writes only while
that token is still the feed's (``fenced_update``), else raises ``LeaseLost`` and the caller's
transaction rolls back (stories not marked seen, nothing queued). On PostgreSQL the claim is
one ``FOR UPDATE SKIP LOCKED`` statement and every lease comparison uses the database's clock
(replica clocks drift); SQLite has one writer at a time (``BEGIN IMMEDIATE``) and its clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.errors import LeaseLost
from monitor.models import FeedLease

LEASE_COLUMNS = ("lease_owner", "lease_until", "lease_token")

PG_CLAIM = (
    "UPDATE feeds AS f SET lease_owner = %s, "
    "lease_until = extract(epoch FROM clock_timestamp()) + %s, lease_token = f.lease_token + 1 "
    "FROM (SELECT feed_id FROM feeds WHERE feed_id = ANY(%s) "
    "AND (next_poll_at IS NULL OR next_poll_at <= extract(epoch FROM clock_timestamp())) "
    "AND (lease_until IS NULL OR lease_until < extract(epoch FROM clock_timestamp())) "
    "ORDER BY next_poll_at NULLS FIRST, feed_id LIMIT %s FOR UPDATE SKIP LOCKED) AS due "
    "WHERE f.feed_id = due.feed_id RETURNING f.feed_id, f.lease_owner, f.lease_token, "
    "f.lease_until"
)
PG_NEW_FEEDS = "INSERT INTO feeds (feed_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING"

SQLITE_NEW_FEED = "INSERT OR IGNORE INTO feeds (feed_id) VALUES (?)"


def sqlite_claim_sql(count: int) -> str:
    marks = ", ".join("?" for _ in range(count))
    return (
        "UPDATE feeds SET lease_owner = ?, lease_until = ? + ?, lease_token = lease_token + 1 "
        "WHERE feed_id IN (SELECT feed_id FROM feeds WHERE feed_id IN "
        f"({marks}) AND (next_poll_at IS NULL OR next_poll_at <= ?) "
        "AND (lease_until IS NULL OR lease_until < ?) "
        "ORDER BY next_poll_at IS NOT NULL, next_poll_at, feed_id LIMIT ?) "
        "RETURNING feed_id, lease_owner, lease_token, lease_until"
    )


def leases_from_rows(rows: Sequence[tuple[Any, ...]]) -> list[FeedLease]:
    leases = [
        FeedLease(str(feed_id), str(owner), int(token), datetime.fromtimestamp(until, UTC))
        for feed_id, owner, token, until in rows
    ]
    return sorted(leases, key=lambda lease: lease.feed_id)


def fenced_update_sql(columns: Sequence[str], mark: str) -> str:
    """``UPDATE feeds`` of ``columns`` for one feed, only under the lease's token and owner."""
    sets = ", ".join(f"{name} = {mark}" for name in columns[1:])
    return (
        f"UPDATE feeds SET {sets} WHERE feed_id = {mark} AND lease_token = {mark} "
        f"AND lease_owner = {mark}"
    )


def check_fenced(rowcount: int, lease: FeedLease) -> None:
    """Zero rows written: another replica holds the feed now (its token is newer)."""
    if rowcount == 0:
        raise LeaseLost(
            f"store: lease on {lease.feed_id} lost (token {lease.token} of {lease.owner} is "
            "no longer current); the write was refused"
        )
