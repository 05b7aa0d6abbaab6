"""The state stores: feed state, seen stories and the outbox, on a real SQLite file and a real
PostgreSQL database (the ``store`` fixture runs each test on both); schema versioning of SQLite."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.models import Alert, FeedState, Severity, Story
from monitor.ports import StateStore
from monitor.state import sqlite as store_module
from monitor.state.open import open_store
from monitor.state.sqlite import SqliteStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_story(key: str, feed_id: str = "f1") -> Story:
    return Story(
        feed_id=feed_id,
        title=f"title {key}",
        url=f"https://example.org/{key}",
        fetched_at=NOW,
        key=key,
        published_at=NOW - timedelta(hours=1),
    )


def make_alert(story: Story, destination: str = "hook", key: str | None = None) -> Alert:
    return Alert(
        key=key or f"k-{story.key}-{destination}",
        destination_id=destination,
        event="alert.created",
        rule_id="r1",
        topic="dprk",
        severity=Severity.HIGH,
        score=3.5,
        story=story,
        hits=(),
        created_at=NOW,
        rule_ids=("r1",),
    )


@pytest.fixture
def store(state_store: StateStore) -> StateStore:
    """Each backend in turn (``tests/conftest.py``): the contract both stores keep."""
    return state_store


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state" / "monitor.db")
    assert (
        store.conn.execute("PRAGMA user_version").fetchone()[0]
        == len(store_module._MIGRATIONS)
        == 7
    )
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        SqliteStore(path)


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open"):
        SqliteStore(blocker / "sub" / "m.db")


def test_feed_state_round_trip(store: StateStore) -> None:
    assert store.feed_state("nk") == FeedState(feed_id="nk")
    state = FeedState(
        feed_id="nk",
        etag='"abc"',
        last_modified="Wed, 21 Oct 2015 07:28:00 GMT",
        last_status=200,
        consecutive_failures=2,
        last_success_at=NOW,
        next_poll_at=NOW + timedelta(minutes=5),
        health="failing",
        items_seen=7,
    )
    store.save_feed_state(state)
    assert store.feed_state("nk") == state
    assert store.feed_states() == [state]


def test_commit_marks_seen_and_queues_atomically(store: StateStore) -> None:
    a, b = make_story("a"), make_story("b")
    assert store.unseen([a, b, a]) == [a, b]
    assert store.commit_stories([a, b], [make_alert(a)], NOW) == 1
    assert store.unseen([a, b, make_story("c")]) == [make_story("c")]
    due = store.due_deliveries(NOW)
    assert [e.alert for e in due] == [make_alert(a)]


def test_failed_commit_leaves_nothing_half_done(store: StateStore) -> None:
    a = make_story("a")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.transaction() as conn:
        conn.execute(
            "INSERT INTO stories (key, feed_id, title, first_seen_at) VALUES ('a', 'f1', 't', 0)"
        )
        raise Boom
    assert store.unseen([a]) == [a]


def test_same_alert_key_is_queued_once(store: StateStore) -> None:
    a = make_story("a")
    assert store.commit_stories([a], [make_alert(a)], NOW) == 1
    assert store.commit_stories([a], [make_alert(a)], NOW) == 0
    assert store.outbox_counts() == {"pending": 1, "sent": 0, "dead": 0}


def test_retry_sent_dead_and_requeue(store: StateStore) -> None:
    a, b = make_story("a"), make_story("b")
    store.commit_stories([a, b], [make_alert(a), make_alert(b)], NOW)
    first, second = store.due_deliveries(NOW)
    store.mark_retry(first.id, "HTTP 500", NOW + timedelta(seconds=5))
    assert [e.id for e in store.due_deliveries(NOW)] == [second.id]
    later = store.due_deliveries(NOW + timedelta(seconds=6))
    assert [e.id for e in later] == [first.id, second.id]
    assert (later[0].attempts, later[0].last_error) == (1, "HTTP 500")
    store.mark_sent(first.id, NOW)
    store.mark_dead(second.id, "invalid_token", NOW)
    assert store.outbox_counts() == {"pending": 0, "sent": 1, "dead": 1}
    dead = store.outbox(status="dead")
    assert dead[0].last_error == "invalid_token"
    assert store.requeue_dead(NOW) == 1
    assert [e.id for e in store.due_deliveries(NOW)] == [second.id]
    assert store.requeue([first.id], NOW) == 1
    assert store.purge_sent(NOW + timedelta(days=1)) == 0


def test_retry_without_counting_an_attempt(store: StateStore) -> None:
    a = make_story("a")
    store.commit_stories([a], [make_alert(a)], NOW)
    (entry,) = store.due_deliveries(NOW)
    store.mark_retry(entry.id, "429", NOW + timedelta(seconds=2), count_attempt=False)
    assert store.outbox_entry(entry.id) is not None
    assert store.outbox_entry(entry.id).attempts == 0  # type: ignore[union-attr]


def test_purge_sent_only_removes_old_sent_rows(store: StateStore) -> None:
    a, b = make_story("a"), make_story("b")
    store.commit_stories([a, b], [make_alert(a), make_alert(b)], NOW)
    first, _ = store.due_deliveries(NOW)
    store.mark_sent(first.id, NOW - timedelta(days=40))
    assert store.purge_sent(NOW - timedelta(days=30)) == 1
    assert store.outbox_counts() == {"pending": 1, "sent": 0, "dead": 0}


def test_alert_survives_serialisation(store: StateStore) -> None:
    story = replace(make_story("z"), summary="Ким Чен Ын и Путин", tags=("dprk", "ru"))
    alert = make_alert(story)
    store.commit_stories([story], [alert], NOW)
    assert store.due_deliveries(NOW)[0].alert == alert


def test_destinations_can_be_disabled_and_enabled(store: StateStore) -> None:
    store.disable_destination("slack", "invalid_token", NOW)
    assert store.disabled_destinations() == {"slack": "invalid_token"}
    store.enable_destination("slack")
    assert store.disabled_destinations() == {}


def test_state_persists_across_reopen(state_url: str) -> None:
    first = open_store(state_url)
    a = make_story("a")
    first.commit_stories([a], [make_alert(a)], NOW)
    first.close()
    second = open_store(state_url)
    assert second.triage([a]) == ([], [])
    assert len(second.due_deliveries(NOW)) == 1
    second.close()


def test_triage_splits_new_and_edited_stories(store: StateStore) -> None:
    a, b = make_story("a"), make_story("b")
    store.commit_stories([a, b], [], NOW)
    edited_b = replace(b, title="b, now with a corrected title")
    c = make_story("c")
    new, edited = store.triage([a, edited_b, c, c])
    assert [s.key for s in new] == ["c"]
    assert [s.key for s in edited] == ["b"]
    store.commit_stories(new, [], NOW, edited=edited)
    assert store.triage([a, edited_b, c]) == ([], [])


def test_a_version_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(store_module._MIGRATIONS[0])  # what the first release created
    conn.execute("INSERT INTO stories VALUES ('old', 'f1', NULL, 'kept', 1.0)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    assert (
        store.conn.execute("PRAGMA user_version").fetchone()[0]
        == len(store_module._MIGRATIONS)
        == 7
    )
    assert store.story_count() == 1
    new, edited = store.triage([replace(make_story("old"), title="kept")])
    assert new == [] and [s.key for s in edited] == ["old"]  # no digest yet: checked once


def test_resend_as_new_queues_a_copy_under_a_fresh_key(store: StateStore) -> None:
    a = make_story("a")
    store.commit_stories([a], [make_alert(a)], NOW)
    (entry,) = store.due_deliveries(NOW)
    store.mark_sent(entry.id, NOW)
    first = store.resend_as_new(entry.id, NOW)
    second = store.resend_as_new(entry.id, NOW)
    assert first is not None and second is not None
    assert (first.alert.key, second.alert.key) == (f"{entry.alert.key}~resend-1",
                                                   f"{entry.alert.key}~resend-2")  # fmt: skip
    assert [e.id for e in store.due_deliveries(NOW)] == [first.id, second.id]
    assert store.resend_as_new(9999, NOW) is None
