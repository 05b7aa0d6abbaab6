"""``migrate`` and ``store copy``: a SQLite state moved into PostgreSQL and back, everything a
running monitor relies on kept (seen stories, queued and dead rows, recent sent rows, clusters,
alert memory with Slack thread refs)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.models import FeedState
from monitor.state import pg_migrations
from monitor.state.open import open_store
from monitor.state.sqlite import SqliteStore
from tests.fixtures.delivery.samples import alert, story

NOW = datetime.now(UTC).replace(microsecond=0)


def _fill(path: Path) -> dict[str, str]:
    """A state with one row of every kind; returns the alert keys by role."""
    store = SqliteStore(path)
    s1, s2 = story("s1"), story("s2")
    store.save_feed_state(FeedState("nknews", etag='"v1"', health="ok", next_poll_at=NOW))
    with store.transaction():
        placed = store.clusters.assign(s1, now=NOW)
    created = alert("created", destination_id="slack", s=s1, created_at=NOW)
    created = replace(created, cluster_id=placed.cluster_id)
    pending = alert("pending", destination_id="hook", s=s2, created_at=NOW)
    old = alert("old", destination_id="hook", s=story("s3"), created_at=NOW)
    dead = alert("dead", destination_id="hook", s=story("s4"), created_at=NOW)
    store.commit_stories([s1, s2], [created, pending, old, dead], NOW)
    ids = {e.alert.key: e.id for e in store.due_deliveries(NOW)}
    store.mark_sent(ids[created.key], NOW, remote_ref="1700000000.000100")
    store.mark_sent(ids[old.key], NOW - timedelta(days=10))
    store.mark_dead(ids[dead.key], "invalid_token", NOW)
    store.close()
    return {"created": created.key, "cluster": placed.cluster_id, "s1": s1.key}


def test_copy_sqlite_to_postgresql_keeps_what_the_monitor_needs(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "monitor.db"
    keys = _fill(src)
    assert main(["store", "copy", str(src), pg_url, "--sent-window-h", "72"]) == 0
    out = capsys.readouterr().out
    assert "outbox: 3" in out and "dedup_stories: 1" in out and "cluster_alerts: 1" in out
    dst = open_store(pg_url)
    try:
        assert dst.feed_state("nknews").etag == '"v1"'
        assert dst.triage([story("s1"), story("s2")]) == ([], [])
        assert dst.outbox_counts() == {"pending": 1, "sent": 1, "dead": 1}  # old sent row left
        assert dst.delivery_of(keys["created"], "slack") == ("sent", "1700000000.000100")
        assert set(dst.cluster_alerts(keys["cluster"])) == {"slack"}
        again = dst.clusters.assign(story("s1"), now=NOW)
        assert (again.cluster_id, again.is_new_story) == (keys["cluster"], False)
        # new rows get fresh ids after the copied ones
        dst.enqueue([alert("after", destination_id="hook", s=story("s9"), created_at=NOW)], NOW)
        assert max(e.id for e in dst.outbox(limit=10)) > 4
    finally:
        dst.close()


def test_copy_refuses_a_target_that_holds_state(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "monitor.db"
    _fill(src)
    assert main(["store", "copy", str(src), pg_url]) == 0
    assert main(["store", "copy", str(src), pg_url]) == 1  # StoreError: exit 1, no traceback


def test_copy_round_trip_back_to_sqlite(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "monitor.db"
    keys = _fill(src)
    assert main(["store", "copy", str(src), pg_url]) == 0
    back = tmp_path / "back.db"
    assert main(["store", "copy", pg_url, f"sqlite:///{back}"]) == 0
    store = SqliteStore(back)
    try:
        assert store.delivery_of(keys["created"], "slack") == ("sent", "1700000000.000100")
        assert store.outbox_counts() == {"pending": 1, "sent": 1, "dead": 1}
    finally:
        store.close()


def test_migrate_reports_what_it_applied(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--state", pg_url]) == 0
    versions = ", ".join(str(v) for v in range(1, len(pg_migrations.MIGRATIONS) + 1))
    assert f"applied: {versions}\n" in capsys.readouterr().out
    assert main(["migrate", "--state", pg_url]) == 0
    assert "applied: none (already current)" in capsys.readouterr().out
    assert main(["migrate", "--state", str(tmp_path / "m.db")]) == 0
    assert "schema version" in capsys.readouterr().out
