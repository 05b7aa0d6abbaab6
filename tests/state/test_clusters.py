"""Cross-feed clusters (monitor.state.clusters) and the cluster alert memory, on a real SQLite
database in tmp_path and on a real PostgreSQL database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.detect import dedup, similar
from monitor.errors import StoreError
from monitor.models import Alert, Severity, Story
from monitor.ports import StateStore
from monitor.state import clusters as clusters_module
from monitor.state.clusters import ClusterIndex, ensure_schema, new_cluster_id
from monitor.state.open import open_store
from monitor.state.sqlite import SqliteStore
from tests.detect.test_dedup import load_fixture, make_story

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    ensure_schema(connection)
    yield connection
    connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def index(request: pytest.FixtureRequest, conn: sqlite3.Connection) -> Iterator[ClusterIndex]:
    """The index on a bare SQLite connection, then the PostgreSQL store's own index."""
    if request.param == "sqlite":
        yield ClusterIndex(conn)
        return
    store = open_store(request.getfixturevalue("pg_url"))
    try:
        yield store.clusters  # type: ignore[misc]
    finally:
        store.close()


def keyed(story: Story) -> Story:
    return replace(story, key=dedup.story_key(story))


def wire_and_unrelated() -> tuple[list[Story], Story]:
    data = load_fixture()
    return [keyed(make_story(item)) for item in data["wire"]], keyed(make_story(data["unrelated"]))


def test_three_outlets_of_one_wire_story_make_one_cluster(index: ClusterIndex) -> None:
    """Edited title, tracking parameters, different GUIDs, no summary: still one cluster."""
    copies, unrelated = wire_and_unrelated()
    first = index.assign(copies[0], now=T0)
    assert first.is_new_cluster and first.is_new_story and first.similar_to is None
    later = [
        index.assign(s, now=T0 + timedelta(minutes=10 * i)) for i, s in enumerate(copies[1:], 1)
    ]
    for assignment in later:
        assert assignment.cluster_id == first.cluster_id
        assert assignment.is_new_story and not assignment.is_new_cluster
        assert assignment.is_follow_up
        assert assignment.similarity >= index.threshold
    assert later[-1].outlets == ("Example Wire", "Daily News Example", "Aggregator Example")
    other = index.assign(unrelated, now=T0 + timedelta(minutes=30))
    assert other.is_new_cluster and other.cluster_id != first.cluster_id
    assert other.outlets == ("Daily News Example",)
    assert [m.outlet for m in index.members(first.cluster_id)] == list(later[-1].outlets)


def test_cluster_id_is_derived_from_the_first_story(index: ClusterIndex) -> None:
    copies, _ = wire_and_unrelated()
    assignment = index.assign(copies[0], now=T0)
    assert assignment.cluster_id == new_cluster_id(copies[0].key)
    assert index.cluster_of(copies[0].key) == assignment.cluster_id
    assert index.cluster_of("url:https://unknown.example/") is None


def test_same_key_with_edited_title_is_an_update(index: ClusterIndex) -> None:
    copies, _ = wire_and_unrelated()
    first = index.assign(copies[0], now=T0)
    repeat = index.assign(copies[0], now=T0 + timedelta(minutes=5))
    assert not repeat.is_new_story and not repeat.is_update and not repeat.is_follow_up
    edited = replace(copies[0], title=copies[0].title + " (updated)")
    update = index.assign(edited, now=T0 + timedelta(minutes=9))
    assert update.cluster_id == first.cluster_id
    assert update.is_update and not update.is_new_story and update.is_follow_up
    assert index.members(first.cluster_id)[0].title == edited.title
    assert index.counts()["stories"] == 1


def test_edited_story_is_indexed_under_its_new_text(index: ClusterIndex) -> None:
    base = keyed(Story("feed-a", "Nothing to see here yet", "https://a.example/1", T0))
    index.assign(base, now=T0)
    new_title = "Freighter Angara unloads containers at Dunai port, images show"
    index.assign(replace(base, title=new_title), now=T0 + timedelta(hours=1))
    copy = keyed(Story("feed-b", new_title, "https://b.example/9", T0))
    assert index.assign(copy, now=T0 + timedelta(hours=2)).cluster_id == new_cluster_id(base.key)


def test_copy_after_the_window_starts_a_new_cluster(conn: sqlite3.Connection) -> None:
    index = ClusterIndex(conn, window_s=72 * 3600)
    copies, _ = wire_and_unrelated()
    first = index.assign(copies[0], now=T0)
    late = index.assign(copies[1], now=T0 + timedelta(hours=73))
    assert late.is_new_cluster and late.cluster_id != first.cluster_id
    # a title-only copy of the late one (an aggregator): the late copy is still fresh
    aggregated = replace(copies[2], title=copies[1].title)
    within = index.assign(aggregated, now=T0 + timedelta(hours=74))
    assert within.cluster_id == late.cluster_id


def test_threshold_is_configurable(conn: sqlite3.Connection) -> None:
    strict = ClusterIndex(conn, threshold=1.01)
    copies, _ = wire_and_unrelated()
    ids = {strict.assign(s, now=T0).cluster_id for s in copies}
    assert len(ids) == 3


def test_series_of_one_feed_stays_apart(index: ClusterIndex) -> None:
    first, second = (keyed(make_story(item)) for item in load_fixture()["series"])
    a = index.assign(first, now=T0)
    b = index.assign(second, now=T0 + timedelta(days=1))
    assert a.cluster_id != b.cluster_id and b.is_new_cluster


def test_prune_forgets_old_stories_keys_and_clusters(index: ClusterIndex) -> None:
    copies, unrelated = wire_and_unrelated()
    old = index.assign(copies[0], now=T0)
    index.assign(copies[1], now=T0 + timedelta(hours=1))
    index.assign(unrelated, now=T0 + timedelta(days=20))
    before = index.counts()
    assert before["stories"] == 3 and before["clusters"] == 2 and before["keys"] > 0
    assert index.prune(older_than=T0 + timedelta(days=10)) == 2
    after = index.counts()
    assert after["stories"] == 1 and after["clusters"] == 1
    assert after["keys"] == len(similar.band_keys(similar.signature(unrelated)))
    assert index.members(old.cluster_id) == []
    assert index.prune(older_than=T0 + timedelta(days=10)) == 0


def test_prune_in_batches_takes_the_oldest_first(index: ClusterIndex) -> None:
    copies, unrelated = wire_and_unrelated()
    for hours, item in enumerate([*copies, unrelated]):
        index.assign(item, now=T0 + timedelta(hours=hours))
    cutoff = T0 + timedelta(days=1)
    assert index.prune(older_than=cutoff, limit=2) == 2
    assert index.counts()["clusters"] == 2  # one wire copy left: its cluster stays
    assert index.prune(older_than=cutoff, limit=1) == 1
    assert index.counts()["clusters"] == 1
    assert [m.story_key for m in index.members(index.cluster_of(unrelated.key) or "")] == [
        unrelated.key
    ]
    assert index.prune(older_than=cutoff, limit=3) == 1
    assert index.prune(older_than=cutoff, limit=3) == 0
    assert index.counts() == {"stories": 0, "clusters": 0, "keys": 0}


def test_peek_answers_like_assign_without_recording(index: ClusterIndex) -> None:
    copies, unrelated = wire_and_unrelated()
    first = index.assign(copies[0], now=T0)
    preview = index.peek(copies[1], now=T0)
    assert preview.cluster_id == first.cluster_id and preview.is_new_story
    assert preview.outlets == ("Example Wire", "Daily News Example")
    assert index.peek(unrelated, now=T0).is_new_cluster
    assert index.peek(copies[0], now=T0).is_new_story is False
    assert index.counts()["stories"] == 1
    assert index.assign(copies[1], now=T0) == preview


def test_assign_neither_begins_nor_commits(conn: sqlite3.Connection) -> None:
    index = ClusterIndex(conn)
    copies, _ = wire_and_unrelated()
    conn.execute("BEGIN IMMEDIATE")
    index.assign(copies[0], now=T0)
    assert conn.in_transaction
    conn.execute("ROLLBACK")
    assert index.counts() == {"stories": 0, "clusters": 0, "keys": 0}


def test_works_inside_the_store_transaction(state_url: str) -> None:
    """The store opens the DB, creates the cluster tables and owns the index; a rolled-back
    transaction keeps none of an assignment (both backends)."""
    store = open_store(state_url)
    index = store.clusters
    copies, _ = wire_and_unrelated()
    with store.transaction():
        assignment = index.assign(copies[0], now=T0)
    with pytest.raises(RuntimeError), store.transaction():
        index.assign(copies[1], now=T0)
        raise RuntimeError("crash before commit")
    assert index.counts()["stories"] == 1
    assert index.members(assignment.cluster_id)[0].story_key == copies[0].key
    store.close()


def test_database_errors_become_store_errors(conn: sqlite3.Connection) -> None:
    index = ClusterIndex(conn)
    conn.close()
    copies, _ = wire_and_unrelated()
    with pytest.raises(StoreError, match="dedup index: cannot assign url:"):
        index.assign(copies[0], now=T0)


def test_ensure_schema_is_idempotent(conn: sqlite3.Connection) -> None:
    ensure_schema(conn)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"dedup_stories", "dedup_keys", "dedup_clusters"} <= tables


# --- the cluster's alert memory (store.cluster_alerts), on both backends -----------------------


def _alert(story: Story, destination: str, *, event: str = "alert.created",
           key: str | None = None, cluster: str = "cl_one") -> Alert:  # fmt: skip
    return Alert(
        key=key or f"{event}-{story.key}-{destination}",
        destination_id=destination,
        event=event,
        rule_id="r1",
        topic="dprk",
        severity=Severity.HIGH,
        score=3.5,
        story=story,
        hits=(),
        created_at=T0,
        cluster_id=cluster,
    )


@pytest.fixture
def store(state_store: StateStore) -> StateStore:
    """SQLite, then PostgreSQL (``tests/conftest.py``): the memory is part of the contract."""
    return state_store


def _first_story() -> Story:
    return wire_and_unrelated()[0][0]


def test_memory_outlives_purged_outbox_rows(store: StateStore) -> None:
    story = _first_story()
    created = [_alert(story, "hook"), _alert(story, "bot")]
    store.commit_stories([story], created, T0)
    for entry in store.due_deliveries(T0):
        ref = "1700000000.000100" if entry.destination_id == "bot" else None
        store.mark_sent(entry.id, T0, remote_ref=ref)
    assert store.purge_sent(T0 + timedelta(seconds=1)) == 2
    assert store.outbox() == []
    remembered = store.cluster_alerts("cl_one")
    assert {dest: alert.key for dest, alert in remembered.items()} == {
        "hook": created[0].key,
        "bot": created[1].key,
    }
    assert store.delivery_of(created[1].key, "bot") == ("sent", "1700000000.000100")
    assert store.delivery_of(created[0].key, "hook") == ("sent", None)
    assert store.delivery_of("never-queued", "hook") is None


def test_the_first_alert_of_a_cluster_per_destination_wins(store: StateStore) -> None:
    story = _first_story()
    first = _alert(story, "hook", key="first")
    store.enqueue([first], T0)
    store.enqueue([_alert(story, "hook", key="second")], T0 + timedelta(minutes=1))
    assert store.cluster_alerts("cl_one")["hook"].key == "first"
    assert store.cluster_alerts("cl_other") == {}
    # a pending row answers from the outbox itself
    assert store.delivery_of("first", "hook") == ("pending", None)


def test_follow_ups_keep_the_memory_alive_until_pruned(store: StateStore) -> None:
    story = _first_story()
    store.enqueue([_alert(story, "hook")], T0)
    later = T0 + timedelta(days=20)
    store.enqueue([_alert(story, "hook", event="alert.updated", key="up")], later)
    assert store.prune_cluster_alerts(T0 + timedelta(days=10)) == 0
    assert "hook" in store.cluster_alerts("cl_one")
    assert store.prune_cluster_alerts(later + timedelta(seconds=1)) == 1
    assert store.cluster_alerts("cl_one") == {}


def test_a_failed_enqueue_leaves_no_memory(store: StateStore) -> None:
    story = _first_story()
    with pytest.raises(RuntimeError), store.transaction():
        store.enqueue([_alert(story, "hook")], T0)
        raise RuntimeError("crash before commit")
    assert store.cluster_alerts("cl_one") == {}


def test_migration_fills_the_memory_from_existing_outbox_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = SqliteStore(path)
    story = _first_story()
    old.commit_stories([story], [_alert(story, "bot")], T0)
    entry = old.due_deliveries(T0)[0]
    old.mark_sent(entry.id, T0, remote_ref="1700000000.000200")
    # step back to schema 4, as a store written before the memory existed
    old.conn.execute("DROP TABLE cluster_alerts")
    for column in ("lease_owner", "lease_until", "lease_token"):  # schema 6 came later
        old.conn.execute(f"ALTER TABLE feeds DROP COLUMN {column}")
    old.conn.execute("PRAGMA user_version = 4")
    old.close()
    reopened = SqliteStore(path)
    try:
        assert reopened.cluster_alerts("cl_one")["bot"].key == entry.alert.key
        reopened.purge_sent(T0 + timedelta(seconds=1))
        assert reopened.delivery_of(entry.alert.key, "bot") == ("sent", "1700000000.000200")
    finally:
        reopened.close()


def test_stories_of_an_older_signature_format_are_signed_again(tmp_path: Path) -> None:
    path = tmp_path / "upgrade.db"
    copies, _ = wire_and_unrelated()
    store = SqliteStore(path)
    with store.transaction():
        first = store.clusters.assign(copies[0], now=T0)
    # as a store written by the format-1 code: other blobs, other keys, no format mark
    store.conn.execute("UPDATE dedup_stories SET sig = x'0102030405'")
    store.conn.execute("DELETE FROM dedup_keys")
    store.conn.execute("INSERT INTO dedup_keys VALUES (42, 0, 1)")
    store.conn.execute("DELETE FROM dedup_meta")
    store.close()
    reopened = SqliteStore(path)
    try:
        keys = {row[0] for row in reopened.conn.execute("SELECT band FROM dedup_keys")}
        headline_only = replace(copies[0], summary="")
        assert keys == set(similar.band_keys(similar.signature(headline_only)))
        # the re-signed story is found again by its headline
        with reopened.transaction():
            placed = reopened.clusters.assign(copies[2], now=T0 + timedelta(hours=1))
        assert placed.cluster_id == first.cluster_id
        assert clusters_module.upgrade_signatures(reopened.conn) == 0  # done once
    finally:
        reopened.close()
