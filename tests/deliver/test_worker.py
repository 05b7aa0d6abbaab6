"""The delivery worker on a real outbox, SQLite and PostgreSQL in turn (the ``store`` fixture):
retries, Retry-After, dead letters, fallbacks,
rate limits, digests, ordering. Network paths use the real loopback receiver."""

# ruff: noqa: F811 - the receiver fixtures are imported, then requested by name

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitor.deliver.digest import period_bounds
from monitor.deliver.notifiers import ConsoleNotifier, SlackNotifier, WebhookNotifier
from monitor.deliver.pacing import TokenBucket
from monitor.deliver.worker import DeliveryOutcome, DeliveryWorker, DigestPolicy
from monitor.errors import PayloadRejected, PermanentDelivery, RetryableDelivery
from monitor.models import Alert, DestinationSpec, Severity
from monitor.ports import Notifier, NotifierCapabilities, StateStore
from tests.fixtures.delivery.samples import alert, story
from tests.servers.webhook_receiver import (  # noqa: F401 - fixtures
    TEST_SECRETS,
    WebhookReceiver,
    slack_receiver,
    webhook_receiver,
)
from tests.support import FakeClock

FAST = (0, 1, 2, 4)  # a short retry schedule so tests move the clock by seconds


@pytest.fixture
def store(state_store: StateStore) -> StateStore:
    """Each backend in turn (``tests/conftest.py``): delivery keeps one contract on both."""
    return state_store


@pytest.fixture
def clock() -> FakeClock:
    # Near real time: the receiver checks webhook-timestamp against its own clock (5 min).
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def queue(
    store: StateStore,
    clock: FakeClock,
    count: int,
    dest: str,
    *,
    severity: Severity = Severity.HIGH,
    prefix: str = "a",
) -> list[Alert]:
    alerts = [
        alert(
            f"msg_{prefix}{i:04d}",
            destination_id=dest,
            severity=severity,
            s=story(f"{prefix}{i}"),
            created_at=clock.now(),
        )
        for i in range(count)
    ]
    store.commit_stories([], alerts, clock.now())
    return alerts


def hook(
    receiver: WebhookReceiver, client: httpx.AsyncClient, clock: FakeClock, dest: str = "hook"
) -> WebhookNotifier:
    spec = DestinationSpec(
        id=dest, type="webhook", url=receiver.url(f"/{dest}"), secrets=TEST_SECRETS, timeout_s=2.0
    )
    return WebhookNotifier(spec=spec, client=client, clock=clock)


def slack(
    receiver: WebhookReceiver, client: httpx.AsyncClient, dest: str = "slack"
) -> SlackNotifier:
    spec = DestinationSpec(
        id=dest, type="slack", url=receiver.url(f"/services/{dest}"), timeout_s=2.0
    )
    return SlackNotifier(spec=spec, client=client)


def worker(
    store: StateStore, clock: FakeClock, notifiers: Sequence[Notifier], **kwargs: object
) -> DeliveryWorker:
    options: dict[str, object] = {"retry_schedule_s": FAST, "jitter": 0.0, **kwargs}
    return DeliveryWorker(
        store=store, clock=clock, notifiers={n.destination_id: n for n in notifiers}, **options
    )  # type: ignore[arg-type]


def statuses(store: StateStore) -> dict[str, int]:
    return store.outbox_counts()


# --- the happy path and the outbox's state --------------------------------------------------------


async def test_delivers_each_alert_once_and_marks_it_sent(
    store: StateStore,
    clock: FakeClock,
    client: httpx.AsyncClient,
    webhook_receiver: WebhookReceiver,
) -> None:
    alerts = queue(store, clock, 5, "hook")
    stats = await worker(store, clock, [hook(webhook_receiver, client, clock)]).deliver_due()
    assert stats.sent == 5 and stats.pending == 0
    assert webhook_receiver.delivered_ids() == [a.key for a in alerts]
    assert all(r.verified for r in webhook_receiver.requests)
    assert statuses(store) == {"pending": 0, "sent": 5, "dead": 0}
    again = await worker(store, clock, [hook(webhook_receiver, client, clock)]).deliver_due()
    assert again.sent == 0 and len(webhook_receiver.requests) == 5


async def test_receiver_down_then_up_every_alert_arrives_exactly_once(
    store: StateStore,
    clock: FakeClock,
    client: httpx.AsyncClient,
    webhook_receiver: WebhookReceiver,
) -> None:
    alerts = queue(store, clock, 20, "hook")
    w = worker(store, clock, [hook(webhook_receiver, client, clock)])
    webhook_receiver.stop()
    for _ in range(3):  # three passes while the port refuses connections
        stats = await w.deliver_due()
        assert stats.sent == 0
        clock.advance(5)
    assert statuses(store)["pending"] == 20
    webhook_receiver.start()
    for _ in range(5):
        clock.advance(5)
        await w.deliver_due()
    assert sorted(webhook_receiver.delivered_ids()) == sorted(a.key for a in alerts)
    assert len(set(webhook_receiver.delivered_ids())) == 20
    assert webhook_receiver.delivered_ids() == [a.key for a in alerts]  # and in order
    assert statuses(store)["sent"] == 20


async def test_failure_leaves_row_pending_with_later_attempt(
    store: StateStore,
    clock: FakeClock,
    client: httpx.AsyncClient,
    webhook_receiver: WebhookReceiver,
) -> None:
    queue(store, clock, 1, "hook")
    webhook_receiver.fail_next(3, status=500)
    w = worker(store, clock, [hook(webhook_receiver, client, clock)])
    for expected_delay_s in (1, 2, 4):  # FAST schedule after 1, 2, 3 failures
        await w.deliver_due()
        [entry] = store.outbox("pending")
        assert entry.next_attempt_at == clock.now() + timedelta(seconds=expected_delay_s)
        assert entry.last_error == "deliver: HTTP 500 at hook"
        clock.advance(expected_delay_s)
    stats = await w.deliver_due()
    assert stats.sent == 1
    [sent] = store.outbox("sent")
    assert sent.attempts == 4 and sent.last_error is None


async def test_retry_after_is_waited_and_not_counted(
    store: StateStore,
    clock: FakeClock,
    client: httpx.AsyncClient,
    webhook_receiver: WebhookReceiver,
) -> None:
    queue(store, clock, 3, "hook")
    webhook_receiver.rate_limit(retry_after_s=2)
    w = worker(store, clock, [hook(webhook_receiver, client, clock)])
    await w.deliver_due()
    entry = store.outbox("pending")[-1]
    assert entry.attempts == 0 and entry.next_attempt_at == clock.now() + timedelta(seconds=2)
    clock.advance(1.5)
    assert (await w.deliver_due()).sent == 0  # the destination is paused: nobody overtakes
    assert len(webhook_receiver.requests) == 1
    clock.advance(0.5)
    assert (await w.deliver_due()).sent == 3


async def test_retry_after_two_seconds_in_real_time(
    store: StateStore, client: httpx.AsyncClient, webhook_receiver: WebhookReceiver
) -> None:
    """The acceptance case with the real clock: the second request comes >= 2 s after the 429."""
    from monitor.clock import SystemClock

    real = SystemClock()
    store.commit_stories([], [alert("msg_real", created_at=real.now())], real.now())
    webhook_receiver.rate_limit(retry_after_s=2)
    spec = DestinationSpec(
        id="hook", type="webhook", url=webhook_receiver.url(), secrets=TEST_SECRETS
    )
    w = DeliveryWorker(
        store=store,
        clock=real,
        notifiers={"hook": WebhookNotifier(spec=spec, client=client, clock=real)},
    )
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop, poll_interval_s=0.05))
    first, second = await asyncio.to_thread(
        webhook_receiver.wait_for, 2, delivered=False, timeout_s=10
    )
    stop.set()
    await asyncio.wait_for(task, 5)
    assert (first.status, second.status) == (429, 200)
    assert second.received_at - first.received_at >= 2.0
    assert store.outbox("sent")[0].attempts == 1


async def test_gives_up_after_the_window(
    store: StateStore,
    clock: FakeClock,
    client: httpx.AsyncClient,
    webhook_receiver: WebhookReceiver,
) -> None:
    queue(store, clock, 1, "hook")
    webhook_receiver.fail_next(1000, status=503)
    w = worker(store, clock, [hook(webhook_receiver, client, clock)], give_up_after_s=60)
    await w.deliver_due()
    clock.advance(61)
    await w.deliver_due()
    [dead] = store.outbox("dead")
    assert dead.last_error is not None and dead.last_error.startswith("gave up after")


def test_backoff_follows_schedule_with_bounded_jitter(store: StateStore, clock: FakeClock) -> None:
    low = DeliveryWorker(store=store, notifiers={}, clock=clock, rng=lambda: 0.0)
    high = DeliveryWorker(store=store, notifiers={}, clock=clock, rng=lambda: 1.0)
    for failures, step in [(1, 5), (2, 60), (3, 300), (4, 1800), (5, 7200), (9, 7200)]:
        assert low.backoff_s(failures) == pytest.approx(step * 0.8)
        assert high.backoff_s(failures) == pytest.approx(step * 1.2)


# --- permanent errors, disabling, fallbacks -----------------------------------------------------


async def test_permanent_slack_error_disables_only_that_destination(
    store: StateStore,
    clock: FakeClock,
    client: httpx.AsyncClient,
    webhook_receiver: WebhookReceiver,
    slack_receiver: WebhookReceiver,
) -> None:
    queue(store, clock, 3, "slack", prefix="s")
    hooks = queue(store, clock, 3, "hook", prefix="h")
    slack_receiver.slack_error("invalid_token")
    w = worker(store, clock, [slack(slack_receiver, client), hook(webhook_receiver, client, clock)])
    stats = await w.deliver_due()
    assert stats.disabled == ["slack"] and stats.sent == 3 and stats.dead == 3
    assert len(slack_receiver.requests) == 1  # no hammering a dead destination
    assert webhook_receiver.delivered_ids() == [a.key for a in hooks]
    assert "invalid_token" in store.disabled_destinations()["slack"]
    dead = store.outbox("dead")
    assert {e.destination_id for e in dead} == {"slack"}
    assert sum("invalid_token" in (e.last_error or "") for e in dead) == 3
    # A later alert for the disabled destination is dead-lettered without a request.
    queue(store, clock, 1, "slack", prefix="late")
    await w.deliver_due()
    assert len(slack_receiver.requests) == 1 and statuses(store)["dead"] == 4
    # After the fix: re-enable and requeue, and everything arrives.
    slack_receiver.heal()
    store.enable_destination("slack")
    assert store.requeue_dead(clock.now()) == 4
    assert (await w.deliver_due()).sent == 4
    assert len(slack_receiver.delivered()) == 4


async def test_webhook_410_disables(
    store: StateStore,
    clock: FakeClock,
    client: httpx.AsyncClient,
    webhook_receiver: WebhookReceiver,
) -> None:
    queue(store, clock, 2, "hook")
    webhook_receiver.gone()
    stats = await worker(store, clock, [hook(webhook_receiver, client, clock)]).deliver_due()
    assert stats.disabled == ["hook"] and stats.dead == 2
    assert "410" in store.disabled_destinations()["hook"]


async def test_invalid_blocks_sends_plain_fallback_once(
    store: StateStore, clock: FakeClock, client: httpx.AsyncClient, slack_receiver: WebhookReceiver
) -> None:
    queue(store, clock, 1, "slack")
    slack_receiver.slack_error("invalid_blocks", times=1)
    stats = await worker(store, clock, [slack(slack_receiver, client)]).deliver_due()
    assert stats.sent == 1 and stats.fallbacks == 1
    blocks, plain = slack_receiver.requests
    assert "blocks" in blocks.json() and "blocks" not in plain.json()
    [entry] = store.outbox("sent")
    assert entry.fallback_sent


async def test_fallback_refused_too_is_dead_after_two_requests(
    store: StateStore, clock: FakeClock, client: httpx.AsyncClient, slack_receiver: WebhookReceiver
) -> None:
    queue(store, clock, 1, "slack")
    slack_receiver.slack_error("invalid_payload")
    w = worker(store, clock, [slack(slack_receiver, client)])
    stats = await w.deliver_due()
    assert stats.dead == 1 and len(slack_receiver.requests) == 2
    assert store.disabled_destinations() == {}
    await w.deliver_due()
    assert len(slack_receiver.requests) == 2


async def test_fallback_retry_keeps_using_plain(
    store: StateStore, clock: FakeClock, client: httpx.AsyncClient, slack_receiver: WebhookReceiver
) -> None:
    queue(store, clock, 1, "slack")
    slack_receiver.slack_error("invalid_blocks", times=1)
    slack_receiver.fail_next(1, status=500)
    w = worker(store, clock, [slack(slack_receiver, client)])
    await w.deliver_due()
    clock.advance(5)
    assert (await w.deliver_due()).sent == 1
    assert [("blocks" in r.json()) for r in slack_receiver.requests] == [True, False, False]


# --- ordering, concurrency, robustness (scripted fake notifiers) ----------------------------------


@dataclass
class ScriptedNotifier:
    """A ``Notifier`` fake: records sends and raises the scripted errors in turn."""

    destination_id: str
    script: list[BaseException | None] = field(default_factory=list)
    capabilities: NotifierCapabilities = field(default_factory=NotifierCapabilities)
    sent: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    delay_s: float = 0.0

    async def send(self, alert: Alert, *, plain: bool = False) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            outcome = self.script.pop(0) if self.script else None
            if outcome is not None:
                raise outcome
            self.sent.append(alert.key)
        finally:
            self.in_flight -= 1


async def test_one_at_a_time_per_destination_in_order_destinations_in_parallel(
    store: StateStore, clock: FakeClock
) -> None:
    a_alerts = queue(store, clock, 6, "a", prefix="a")
    b_alerts = queue(store, clock, 6, "b", prefix="b")
    a, b = ScriptedNotifier("a", delay_s=0.01), ScriptedNotifier("b", delay_s=0.01)
    await worker(store, clock, [a, b]).deliver_due()
    assert a.sent == [x.key for x in a_alerts] and b.sent == [x.key for x in b_alerts]
    assert a.max_in_flight == b.max_in_flight == 1


async def test_a_failing_head_is_not_overtaken(store: StateStore, clock: FakeClock) -> None:
    alerts = queue(store, clock, 3, "a")
    a = ScriptedNotifier("a", script=[RetryableDelivery("a", "HTTP 502")])
    w = worker(store, clock, [a])
    await w.deliver_due()
    assert a.sent == []
    clock.advance(1)
    await w.deliver_due()
    assert a.sent == [x.key for x in alerts]


async def test_a_paused_destination_does_not_starve_others(
    store: StateStore, clock: FakeClock
) -> None:
    queue(store, clock, 10, "a", prefix="a")
    b_alerts = queue(store, clock, 3, "b", prefix="b")
    a = ScriptedNotifier("a", script=[RetryableDelivery("a", "busy", retry_after_s=30)])
    b = ScriptedNotifier("b")
    stats = await worker(store, clock, [a, b], batch_size=4).deliver_due()
    assert b.sent == [x.key for x in b_alerts] and stats.sent == 3
    assert all(
        e.next_attempt_at >= clock.now() + timedelta(seconds=30) for e in store.outbox("pending")
    )


async def test_a_notifier_bug_is_retried_not_fatal(store: StateStore, clock: FakeClock) -> None:
    queue(store, clock, 2, "a")
    a = ScriptedNotifier("a", script=[ValueError("boom")])
    stats = await worker(store, clock, [a]).deliver_due()
    assert stats.retried == 1
    first = store.outbox_entry(1)
    assert first is not None and first.last_error == "internal error: ValueError"


async def test_unconfigured_destination_is_dead_lettered_with_a_hint(
    store: StateStore, clock: FakeClock
) -> None:
    queue(store, clock, 1, "gone-from-config")
    await worker(store, clock, []).deliver_due()
    [dead] = store.outbox("dead")
    assert "not configured" in (dead.last_error or "")


async def test_cancelled_send_leaves_the_row_pending(store: StateStore, clock: FakeClock) -> None:
    """What a kill mid-send looks like to the outbox: nothing written, the row is re-sent later."""
    queue(store, clock, 1, "a")
    a = ScriptedNotifier("a", delay_s=10)
    task = asyncio.create_task(worker(store, clock, [a]).deliver_due())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [entry] = store.outbox("pending")
    assert entry.attempts == 0 and entry.next_attempt_at <= clock.now()


async def test_permanent_without_disable_dead_letters_only_that_alert(
    store: StateStore, clock: FakeClock
) -> None:
    queue(store, clock, 2, "a")
    a = ScriptedNotifier("a", script=[PermanentDelivery("a", "HTTP 400 refused")])
    stats = await worker(store, clock, [a]).deliver_due()
    assert stats.dead == 1 and stats.sent == 1 and stats.disabled == []


async def test_run_finishes_the_send_in_flight_then_stops(
    store: StateStore, clock: FakeClock
) -> None:
    queue(store, clock, 5, "a")
    a = ScriptedNotifier("a", delay_s=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(worker(store, clock, [a]).run(stop, poll_interval_s=0.05))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(a.sent) == 1 and statuses(store) == {"pending": 4, "sent": 1, "dead": 0}


# --- rate limits ----------------------------------------------------------------------------------


class FakeTime:
    """Monotonic time and a sleep that moves it, for token-bucket tests."""

    def __init__(self) -> None:
        self.now_s = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_s += seconds


def test_token_bucket() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=2, now_s=0.0)
    assert bucket.wait_s(0.0) == 0.0
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.wait_s(0.0) == pytest.approx(0.5)
    assert bucket.wait_s(0.5) == 0.0
    assert bucket.wait_s(100.0) == 0.0 and bucket.tokens == 2  # never more than the burst


async def test_rate_limit_paces_sends_after_the_burst(store: StateStore, clock: FakeClock) -> None:
    queue(store, clock, 6, "a")
    fake = FakeTime()
    a = ScriptedNotifier("a")
    w = worker(
        store, clock, [a], rate_limits={"a": (1.0, 3)}, monotonic=fake.monotonic, sleep=fake.sleep
    )
    stats = await w.deliver_due()
    assert stats.sent == 6
    assert fake.slept == pytest.approx([1.0, 1.0, 1.0])


async def test_slow_rate_defers_instead_of_blocking(store: StateStore, clock: FakeClock) -> None:
    queue(store, clock, 3, "a")
    fake = FakeTime()
    a = ScriptedNotifier("a")
    w = worker(
        store,
        clock,
        [a],
        rate_limits={"a": (0.01, 1)},
        monotonic=fake.monotonic,
        sleep=fake.sleep,
        max_inline_wait_s=5,
    )
    stats = await w.deliver_due()
    assert stats.sent == 1 and stats.deferred == 2 and fake.slept == []
    fake.now_s += 100
    clock.advance(100)
    assert (await w.deliver_due()).sent == 1


# --- digests --------------------------------------------------------------------------------------


def test_digest_periods_are_aligned() -> None:
    start, end = period_bounds(datetime(2026, 3, 1, 12, 34, 56, tzinfo=UTC), 3600)
    assert (start.hour, start.minute, end.hour, end.minute) == (12, 0, 13, 0)


async def test_digest_holds_low_alerts_and_sends_one_message_per_period(
    store: StateStore, client: httpx.AsyncClient, slack_receiver: WebhookReceiver
) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 10, tzinfo=UTC))
    low = queue(store, clock, 4, "slack", severity=Severity.MEDIUM, prefix="low")
    urgent = queue(store, clock, 1, "slack", severity=Severity.CRITICAL, prefix="urgent")
    w = worker(
        store, clock, [slack(slack_receiver, client)], digests={"slack": DigestPolicy(every_s=3600)}
    )
    stats = await w.deliver_due()
    assert stats.sent == 1 and len(slack_receiver.requests) == 1  # the critical one, at once
    assert urgent[0].story.title in slack_receiver.requests[0].json()["blocks"][0]["text"]["text"]
    held = store.outbox("pending")
    assert len(held) == 4 and all(
        e.next_attempt_at == datetime(2026, 3, 1, 13, tzinfo=UTC) for e in held
    )
    assert all((e.last_error or "").startswith("held for the digest") for e in held)
    clock.advance(30 * 60)
    assert (await w.deliver_due()).sent == 0 and store.due_deliveries(clock.now()) == []
    clock.advance(20 * 60 + 1)
    stats = await w.deliver_due()
    assert stats.sent == 4 and stats.digests == 1 and len(slack_receiver.requests) == 2
    digest = slack_receiver.requests[1].json()
    assert "2026-03-01 12:00–13:00 UTC: 4 alerts" in digest["text"]
    assert all(a.story.url and a.story.url in str(digest) for a in low)


async def test_digest_failure_retries_every_member(
    store: StateStore, client: httpx.AsyncClient, slack_receiver: WebhookReceiver
) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 10, tzinfo=UTC))
    queue(store, clock, 3, "slack", severity=Severity.LOW)
    w = worker(
        store, clock, [slack(slack_receiver, client)], digests={"slack": DigestPolicy(every_s=600)}
    )
    await w.deliver_due()
    clock.advance(600)
    slack_receiver.fail_next(1, status=500)
    assert (await w.deliver_due()).retried == 3
    clock.advance(5)
    stats = await w.deliver_due()
    assert stats.sent == 3 and stats.digests == 1


async def test_console_digest(store: StateStore) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 10, tzinfo=UTC))
    queue(store, clock, 2, "console", severity=Severity.LOW)
    stream = io.StringIO()
    console = ConsoleNotifier(
        spec=DestinationSpec(id="console", type="console"), stream=stream, color=False
    )
    w = worker(store, clock, [console], digests={"console": DigestPolicy(every_s=3600)})
    await w.deliver_due()
    assert stream.getvalue() == ""
    clock.advance(3600)
    await w.deliver_due()
    assert "digest 2026-03-01 12:00–13:00 UTC: 2 alerts" in stream.getvalue()


async def test_payload_rejected_digest_falls_back_to_single_alerts(store: StateStore) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 10, tzinfo=UTC))
    queue(store, clock, 2, "d", severity=Severity.LOW)

    @dataclass
    class DigestFake(ScriptedNotifier):
        capabilities: NotifierCapabilities = field(
            default_factory=lambda: NotifierCapabilities(digests=True)
        )

        async def send_digest(self, alerts: Sequence[Alert], *, period_label: str) -> None:
            raise PayloadRejected(self.destination_id, "invalid_blocks")

    d = DigestFake("d")
    w = worker(store, clock, [d], digests={"d": DigestPolicy(every_s=600)})
    await w.deliver_due()
    clock.advance(600)
    assert (await w.deliver_due()).sent == 2 and len(d.sent) == 2


async def test_observe_reports_each_outcome_with_attempt_time(
    store: StateStore, clock: FakeClock
) -> None:
    queue(store, clock, 3, "a")
    outcomes: list[DeliveryOutcome] = []
    a = ScriptedNotifier(
        "a",
        script=[PermanentDelivery("a", "HTTP 400"), None, RetryableDelivery("a", "HTTP 502")],
        delay_s=0.01,
    )
    clock.advance(30)
    await worker(store, clock, [a], observe=outcomes.append).deliver_due()
    assert [(o.entry_id, o.result) for o in outcomes] == [(1, "dead"), (2, "sent"), (3, "retry")]
    assert all(o.latency_s is not None and o.latency_s >= 0.01 for o in outcomes)
    assert all(o.age_s == 30 for o in outcomes)


def test_policies_from_destination_specs() -> None:
    from monitor.deliver.digest import digests_for
    from monitor.deliver.pacing import rate_limits_for

    specs = [
        DestinationSpec(
            id="s",
            type="slack",
            url="http://127.0.0.1:9/",
            rate_per_s=1.0,
            burst=3,
            digest_every_s=3600,
        ),
        DestinationSpec(id="w", type="webhook", url="http://127.0.0.1:9/"),
    ]
    assert rate_limits_for(specs) == {"s": (1.0, 3)}
    assert digests_for(specs) == {"s": DigestPolicy(every_s=3600)}
