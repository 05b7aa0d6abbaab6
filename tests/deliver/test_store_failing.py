"""Delivery while the store is failing: a send whose ``sent`` mark cannot commit is not sent
again, and its destination sends nothing more until a write succeeds.

A real outbox (SQLite and PostgreSQL in turn) behind a wrapper whose ``mark_sent`` fails on
command (a full disk, a failing database), and a real loopback webhook receiver that records
every request it gets.
"""

# ruff: noqa: F811 - the receiver fixtures are imported, then requested by name

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest

from monitor.deliver.notifiers import WebhookNotifier
from monitor.errors import StoreError
from monitor.models import DestinationSpec
from monitor.ports import StateStore
from tests.deliver.test_worker import queue, worker
from tests.servers.webhook_receiver import (  # noqa: F401 - fixtures
    TEST_SECRETS,
    WebhookReceiver,
    webhook_receiver,
)
from tests.support import FakeClock


def hook(
    receiver: WebhookReceiver, client: httpx.AsyncClient, clock: FakeClock, dest: str = "hook"
) -> WebhookNotifier:
    """A webhook notifier with a timeout generous enough for a loaded test host."""
    spec = DestinationSpec(
        id=dest, type="webhook", url=receiver.url(f"/{dest}"), secrets=TEST_SECRETS, timeout_s=30
    )
    return WebhookNotifier(spec=spec, client=client, clock=clock)


class FailingWrites:
    """The store, except that ``mark_sent`` raises while ``failing`` is set."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.failing = False
        self.refused = 0

    def mark_sent(self, *args: Any, **kwargs: Any) -> None:
        if self.failing:
            self.refused += 1
            raise StoreError("store: database or disk is full")
        self.inner.mark_sent(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


async def test_a_failed_sent_mark_holds_the_destination_until_the_store_recovers(
    state_store: StateStore,
    clock: FakeClock,
    client: httpx.AsyncClient,
    webhook_receiver: WebhookReceiver,
) -> None:
    alerts = queue(state_store, clock, 3, "hook")
    store = FailingWrites(state_store)
    store.failing = True
    w = worker(cast(StateStore, store), clock, [hook(webhook_receiver, client, clock)])

    first = await w.deliver_due()
    assert len(webhook_receiver.requests) == 1  # one send in flight, then the lane holds
    assert first.store_errors == 1 and first.held == 2

    for _ in range(3):  # the store still fails: nothing is sent again, nothing new is sent
        again = await w.deliver_due()
        assert again.held == 3
    assert len(webhook_receiver.requests) == 1

    store.failing = False
    healed = await w.deliver_due()
    assert healed.sent == 2 and healed.held == 0
    assert webhook_receiver.delivered_ids() == [a.key for a in alerts]  # each once, in order
    assert state_store.outbox_counts() == {"pending": 0, "sent": 3, "dead": 0}


async def test_other_destinations_keep_delivering_while_one_lane_holds(
    state_store: StateStore,
    clock: FakeClock,
    client: httpx.AsyncClient,
    webhook_receiver: WebhookReceiver,
) -> None:
    queue(state_store, clock, 2, "a", prefix="a")
    store = FailingWrites(state_store)
    lanes = [hook(webhook_receiver, client, clock, "a"), hook(webhook_receiver, client, clock, "b")]
    w = worker(cast(StateStore, store), clock, lanes)
    store.failing = True
    await w.deliver_due()
    store.failing = False
    queue(state_store, clock, 1, "b", prefix="b")
    await w.deliver_due()
    paths = [r.path for r in webhook_receiver.requests]
    assert paths.count("/a") == 2 and paths.count("/b") == 1
    assert len(set(webhook_receiver.delivered_ids())) == len(webhook_receiver.delivered_ids())
