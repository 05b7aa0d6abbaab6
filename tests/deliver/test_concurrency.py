"""Bounded concurrency per destination and the worker's wake-up (issue 16 point 4), on a real
SQLite outbox with scripted fake notifiers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from monitor.errors import RetryableDelivery
from monitor.models import Alert
from monitor.ports import NotifierCapabilities
from monitor.service.config import load_config
from monitor.state.sqlite import SqliteStore
from tests.deliver.test_worker import ScriptedNotifier, clock, queue, store, worker
from tests.fixtures.delivery.samples import alert, story
from tests.support import FakeClock, write_config

__all__ = ["clock", "store"]


@dataclass
class Stopwatch:
    """A ``Notifier`` fake that logs each send's start and end, in order, and can hold one."""

    destination_id: str
    slow: dict[str, float] = field(default_factory=dict)  # alert key -> seconds
    capabilities: NotifierCapabilities = field(default_factory=NotifierCapabilities)
    events: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, alert: Alert, *, plain: bool = False) -> None:
        self.events.append(("start", alert.key))
        await asyncio.sleep(self.slow.get(alert.key, 0.01))
        self.events.append(("end", alert.key))

    def starts(self) -> list[str]:
        return [key for kind, key in self.events if kind == "start"]


async def test_up_to_the_limit_in_flight_started_oldest_first(
    store: SqliteStore, clock: FakeClock
) -> None:
    alerts = queue(store, clock, 12, "a")
    a = ScriptedNotifier("a", delay_s=0.02)
    stats = await worker(store, clock, [a], concurrency={"a": 4}).deliver_due()
    assert stats.sent == 12 and a.max_in_flight == 4
    assert sorted(a.sent) == [x.key for x in alerts]
    assert store.outbox_counts().get("sent") == 12


async def test_the_default_is_one_at_a_time(store: SqliteStore, clock: FakeClock) -> None:
    alerts = queue(store, clock, 5, "a")
    a = Stopwatch("a")
    await worker(store, clock, [a]).deliver_due()
    assert a.events == [(kind, x.key) for x in alerts for kind in ("start", "end")]


async def test_a_follow_up_never_starts_before_its_parent_has_finished(
    store: SqliteStore, clock: FakeClock
) -> None:
    parent = alert("msg_parent", destination_id="a", s=story("p"), created_at=clock.now())
    others = [
        alert(f"msg_o{i}", destination_id="a", s=story(f"o{i}"), created_at=clock.now())
        for i in range(2)
    ]
    follow_up = replace(
        alert("msg_follow", destination_id="a", s=story("p"), created_at=clock.now()),
        event="alert.updated",
        parent_alert_id=parent.key,
    )
    store.commit_stories([], [parent, *others, follow_up], clock.now())
    a = Stopwatch("a", slow={parent.key: 0.3})
    await worker(store, clock, [a], concurrency={"a": 4}).deliver_due()
    assert a.starts()[:3] == [parent.key, *(o.key for o in others)]  # those overlap
    assert a.events.index(("start", follow_up.key)) > a.events.index(("end", parent.key))
    assert store.outbox_counts().get("sent") == 4


async def test_a_failure_stops_new_starts_and_only_those_in_flight_overtake(
    store: SqliteStore, clock: FakeClock
) -> None:
    alerts = queue(store, clock, 10, "a")
    a = ScriptedNotifier("a", script=[RetryableDelivery("a", "HTTP 502")], delay_s=0.02)
    w = worker(store, clock, [a], concurrency={"a": 4})
    stats = await w.deliver_due()
    # The first send failed; the three already in flight went through; nothing else started.
    assert a.sent == [x.key for x in alerts[1:4]] and stats.sent == 3
    counts = store.outbox_counts()
    assert (counts.get("sent"), counts.get("pending")) == (3, 7)
    clock.advance(1)
    await w.deliver_due()
    assert sorted(a.sent) == sorted(x.key for x in alerts)


async def test_wake_starts_a_pass_without_waiting_for_the_tick(
    store: SqliteStore, clock: FakeClock
) -> None:
    a = Stopwatch("a")
    w = worker(store, clock, [a])
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop, poll_interval_s=60.0))
    await asyncio.sleep(0.05)  # the first (empty) pass is done; the worker idles for 60 s
    queue(store, clock, 2, "a")
    w.wake()
    try:
        async with asyncio.timeout(10):  # without the wake-up: 60 s
            while store.outbox_counts().get("sent", 0) < 2:
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
    assert len(a.starts()) == 2


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [("webhook", None, 4), ("slack", None, 1), ("console", None, 1), ("webhook", 1, 1)],
)
def test_config_concurrency_defaults_to_four_for_webhooks(
    tmp_path: Path, kind: str, given: int | None, expected: int
) -> None:
    dest: dict[str, object] = {"id": "d", "type": kind, "url": "https://hooks.example/x"}
    if kind == "webhook":
        dest["secret"] = "whsec_" + "A" * 32
    if given is not None:
        dest["concurrency"] = given
    settings = load_config(write_config(tmp_path, feeds=[], destinations=[dest]))
    assert {d.id: d.concurrency for d in settings.destinations}["d"] == expected
