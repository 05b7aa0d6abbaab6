"""Feed leases with fencing tokens: the same contract on SQLite and PostgreSQL.

A claim takes only due, configured, unleased feeds; two claimers never hold one feed; an
expired lease goes to the next claimer with a newer token; a write under a stale token is
refused (``LeaseLost``) and takes the rest of its transaction with it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import LeaseLost
from monitor.models import FeedState
from monitor.ports import StateStore
from monitor.state.open import open_store
from tests.state.test_sqlite import NOW, make_alert, make_story

FEEDS = [f"f{n:02d}" for n in range(10)]


def _claim_until(store: StateStore, owner: str, feed_ids: list[str], *, lease_s: float) -> list:
    """Claim until something is granted (a lease that just expired, by the store's clock)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = store.claim_feeds(owner, feed_ids, limit=10, lease_s=lease_s)
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("the expired lease was never granted")


def test_a_claim_takes_due_configured_feeds_up_to_the_limit(state_store: StateStore) -> None:
    future = datetime.now(UTC) + timedelta(hours=1)
    state_store.save_feed_state(FeedState("f00", next_poll_at=future))  # not due
    state_store.save_feed_state(FeedState("other", next_poll_at=None))  # not in this config
    first = state_store.claim_feeds("r1", FEEDS, limit=4, lease_s=60)
    assert [lease.feed_id for lease in first] == ["f01", "f02", "f03", "f04"]
    assert {lease.owner for lease in first} == {"r1"} and all(lease.token == 1 for lease in first)
    second = state_store.claim_feeds("r2", FEEDS, limit=10, lease_s=60)
    assert [lease.feed_id for lease in second] == FEEDS[5:]
    assert state_store.claim_feeds("r3", FEEDS, limit=10, lease_s=60) == []
    shown = state_store.feed_leases()
    assert shown["f01"].owner == "r1" and shown["f09"].owner == "r2"
    assert "other" not in shown and "f00" not in shown
    assert state_store.feed_state("other").next_poll_at is None  # left alone


def test_an_expired_lease_moves_on_with_a_newer_token(state_store: StateStore) -> None:
    (old,) = state_store.claim_feeds("r1", ["f00"], limit=1, lease_s=0.05)
    (new,) = _claim_until(state_store, "r2", ["f00"], lease_s=60)
    assert (new.owner, new.token) == ("r2", old.token + 1)


def test_a_stale_token_cannot_write_and_rolls_its_poll_back(state_store: StateStore) -> None:
    (old,) = state_store.claim_feeds("r1", ["f00"], limit=1, lease_s=0.05)
    (new,) = _claim_until(state_store, "r2", ["f00"], lease_s=60)
    story = make_story("late")
    with pytest.raises(LeaseLost, match="lease on f00 lost"), state_store.transaction():
        state_store.commit_stories([story], [make_alert(story)], NOW)
        state_store.save_feed_state(FeedState("f00", etag='"stale"'), lease=old)
    assert state_store.feed_state("f00").etag is None
    assert state_store.triage([story]) == ([story], [])  # not marked seen
    assert state_store.outbox_counts()["pending"] == 0  # nothing queued
    state_store.save_feed_state(FeedState("f00", etag='"fresh"'), lease=new)
    assert state_store.feed_state("f00").etag == '"fresh"'
    assert state_store.feed_leases()["f00"].token == new.token  # a save keeps the lease


def test_release_frees_the_feed_at_once(state_store: StateStore) -> None:
    (lease,) = state_store.claim_feeds("r1", ["f00"], limit=1, lease_s=600)
    state_store.release_feed(lease)
    (again,) = state_store.claim_feeds("r2", ["f00"], limit=1, lease_s=600)
    assert again.token == lease.token + 1


def test_an_unfenced_save_keeps_the_lease_columns(state_store: StateStore) -> None:
    (lease,) = state_store.claim_feeds("r1", ["f00"], limit=1, lease_s=600)
    state_store.save_feed_state(replace(FeedState("f00"), etag='"x"'))
    assert state_store.feed_leases()["f00"].token == lease.token


def test_concurrent_claimers_on_postgres_never_share_a_feed(pg_url: str) -> None:
    feeds = [f"p{n:03d}" for n in range(120)]
    stores = [open_store(pg_url) for _ in range(4)]
    got: dict[int, list[str]] = {n: [] for n in range(4)}
    barrier = threading.Barrier(4)

    def claim(n: int) -> None:
        barrier.wait()
        while leases := stores[n].claim_feeds(f"r{n}", feeds, limit=7, lease_s=600):
            got[n] += [lease.feed_id for lease in leases]

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for store in stores:
        store.close()
    claimed = [feed for ids in got.values() for feed in ids]
    assert sorted(claimed) == feeds  # every feed once, none twice
    assert sum(1 for ids in got.values() if ids) >= 2  # the work was actually shared
