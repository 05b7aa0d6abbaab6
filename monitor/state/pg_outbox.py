"""The outbox's write path on PostgreSQL: queue an alert and keep its cluster's memory.

For ``PostgresStore`` (``commit_stories`` and ``enqueue`` call it inside their transaction).
"""

from __future__ import annotations

from typing import Any

import psycopg

from monitor.models import Alert

Conn = psycopg.Connection[tuple[Any, ...]]


def enqueue_alert(conn: Conn, alert: Alert, ts: float) -> int:
    """Queue one alert unless its (key, destination) is queued already; 1 if it was new."""
    if alert.cluster_id:
        _remember(conn, alert, ts)
    cursor = conn.execute(
        "INSERT INTO outbox (alert_key, destination_id, event, payload, next_attempt_at, "
        "created_at, updated_at, cluster_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (alert_key, destination_id) DO NOTHING",
        (alert.key, alert.destination_id, alert.event, alert.to_json(), ts, ts, ts,
         alert.cluster_id or None),
    )  # fmt: skip
    return cursor.rowcount


def _remember(conn: Conn, alert: Alert, ts: float) -> None:
    """The cluster's memory (as ``sqlite._remember``): the first ``alert.created`` per
    destination wins; any later alert of the cluster there marks it active."""
    if alert.event == "alert.created":
        conn.execute(
            "INSERT INTO cluster_alerts AS m (cluster_id, destination_id, alert_key, payload, "
            "created_at, last_seen_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (cluster_id, "
            "destination_id) DO UPDATE SET last_seen_at = GREATEST(m.last_seen_at, "
            "excluded.last_seen_at)",
            (alert.cluster_id, alert.destination_id, alert.key, alert.to_json(), ts, ts),
        )
    else:
        conn.execute(
            "UPDATE cluster_alerts SET last_seen_at = GREATEST(last_seen_at, %s) "
            "WHERE cluster_id = %s AND destination_id = %s",
            (ts, alert.cluster_id, alert.destination_id),
        )
