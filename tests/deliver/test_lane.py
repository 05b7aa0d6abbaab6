"""Delivery lanes act on the capabilities a notifier declares (``ports.NotifierCapabilities``):
threads, folding follow-ups into digests, and sending digests as one message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.deliver.worker import DeliveryWorker, DigestPolicy
from monitor.models import Alert, Severity
from monitor.ports import NotifierCapabilities
from monitor.state.sqlite import SqliteStore
from tests.fixtures.delivery.samples import alert, follow_up_alert, story
from tests.support import FakeClock


@dataclass
class CapableNotifier:
    """A ``Notifier`` fake that declares its capabilities and records what it was asked."""

    destination_id: str
    capabilities: NotifierCapabilities
    sent: list[Alert] = field(default_factory=list)
    digests: list[list[str]] = field(default_factory=list)

    async def send(self, alert: Alert, *, plain: bool = False) -> str | None:
        self.sent.append(alert)
        return f"ts-{alert.key}"

    async def send_digest(self, alerts: Sequence[Alert], *, period_label: str) -> None:
        self.digests.append([a.key for a in alerts])


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "monitor.db")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 10, tzinfo=UTC))


def run(
    store: SqliteStore, clock: FakeClock, notifier: CapableNotifier, **kw: object
) -> DeliveryWorker:
    return DeliveryWorker(store=store, clock=clock, notifiers={"d": notifier}, jitter=0.0, **kw)  # type: ignore[arg-type]


def queue(store: SqliteStore, clock: FakeClock, *alerts: Alert) -> None:
    store.commit_stories([], list(alerts), clock.now())


async def test_a_threading_lane_replies_in_the_parent_thread_once_it_exists(
    store: SqliteStore, clock: FakeClock
) -> None:
    notifier = CapableNotifier("d", NotifierCapabilities(threads=True))
    queue(store, clock, follow_up_alert("d", thread_ts=None))  # the follow-up first
    queue(store, clock, alert("msg_aurus", destination_id="d", created_at=clock.now()))
    worker = run(store, clock, notifier)
    await worker.deliver_due()
    assert [a.key for a in notifier.sent] == ["msg_aurus"]  # the reply waited for its parent
    clock.advance(31)
    await worker.deliver_due()
    assert notifier.sent[1].key == "msg_aurus_yonhap"
    assert notifier.sent[1].thread_ref == "ts-msg_aurus"


async def test_a_lane_without_threads_sends_follow_ups_alone(
    store: SqliteStore, clock: FakeClock
) -> None:
    notifier = CapableNotifier("d", NotifierCapabilities())
    queue(store, clock, alert("msg_aurus", destination_id="d", created_at=clock.now()))
    queue(store, clock, follow_up_alert("d", thread_ts=None))
    await run(store, clock, notifier).deliver_due()
    assert [a.thread_ref for a in notifier.sent] == [None, None]


async def test_a_folding_lane_holds_follow_ups_for_the_hourly_digest(
    store: SqliteStore, clock: FakeClock
) -> None:
    notifier = CapableNotifier("d", NotifierCapabilities(folds_updates=True, digests=True))
    queue(store, clock, alert("msg_aurus", destination_id="d", created_at=clock.now()))
    queue(store, clock, follow_up_alert("d", thread_ts=None))
    queue(store, clock, replace(follow_up_alert("d", thread_ts=None), key="msg_aurus_third"))
    worker = run(store, clock, notifier)
    await worker.deliver_due()
    assert [a.key for a in notifier.sent] == ["msg_aurus"] and notifier.digests == []
    clock.advance(3600)
    await worker.deliver_due()
    assert notifier.digests == [["msg_aurus_yonhap", "msg_aurus_third"]]


async def test_a_digest_period_without_the_digest_capability_sends_one_by_one(
    store: SqliteStore, clock: FakeClock
) -> None:
    notifier = CapableNotifier("d", NotifierCapabilities())  # has send_digest, not declared
    low = [
        alert(f"msg_{i}", destination_id="d", severity=Severity.LOW, s=story(f"s{i}"),
              created_at=clock.now())
        for i in range(2)
    ]  # fmt: skip
    queue(store, clock, *low)
    worker = run(store, clock, notifier, digests={"d": DigestPolicy(every_s=600)})
    await worker.deliver_due()
    clock.advance(600)
    await worker.deliver_due()
    assert notifier.digests == [] and [a.key for a in notifier.sent] == ["msg_0", "msg_1"]
