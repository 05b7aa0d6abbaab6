"""Copy one state store into another (``sanctions-monitor store copy SRC DST``).

For a user moving from the embedded SQLite file to a shared PostgreSQL (or back). What moves:
feed states, seen stories, pending and dead outbox rows, sent rows still inside the dedup
window (older ones only feed ``outbox list``), disabled destinations, the dedup clusters with
their index keys, each cluster's alert memory (with Slack thread references) and the evidence
snapshots of alerted stories (``evidence ALERT_ID`` works after the move), so a copy of
a story seen before the move is a follow-up after it, not a new alert. Ids are kept: follow-ups
and the index refer to them. The target must be empty (a fresh ``migrate``d store), so nothing
there is overwritten; both stores must be at the same schema (see ``test_schema_parity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.errors import StoreError
from monitor.ports import StoreAdmin

# (table, filter or None) in an order that satisfies every reference between them
TABLES: tuple[tuple[str, str | None], ...] = (
    ("feeds", None),
    ("stories", None),
    ("destinations", None),
    ("outbox", "status != 'sent' OR sent_at >= ?"),
    ("dedup_clusters", None),
    ("dedup_stories", None),
    ("dedup_keys", None),
    ("cluster_alerts", None),
    ("evidence", None),
    ("evidence_alerts", None),
)
BATCH = 2000


@dataclass(frozen=True)
class CopyReport:
    """Rows copied per table."""

    rows: dict[str, int]


def copy_state(src: StoreAdmin, dst: StoreAdmin, *, sent_since: datetime) -> CopyReport:
    """Copy every table of ``src`` into the empty ``dst``; sent rows only from ``sent_since``."""
    if not dst.is_empty():
        raise StoreError("store copy: the target already holds state; copy into an empty store")
    counts: dict[str, int] = {}
    with dst.transaction():  # all or nothing: a failed copy leaves the target empty
        for table, where in TABLES:
            params = (sent_since.timestamp(),) if where else ()
            counts[table] = 0
            for columns, rows in src.table_rows(table, where, params, batch=BATCH):
                dst.insert_rows(table, columns, rows)
                counts[table] += len(rows)
        dst.after_copy()
    return CopyReport(counts)
