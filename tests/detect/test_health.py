"""Feed health: the transition rules (``detect.health``), the ``feed.health`` notice
(``route.health_alerts``), and the poller over simulated days: backoff never gives up, each
transition alerts once.

The poller runs with a fake fetcher and a hand-moved clock against a real SQLite store, so
two days of polling take milliseconds: every time the feed is due, it is polled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from monitor.detect.health import health_after, health_changed
from monitor.detect.match import compile_pack
from monitor.detect.poller import FeedPoller, PollPolicy
from monitor.detect.route import health_alerts
from monitor.errors import FetchHTTPStatus, FetchTimeout
from monitor.models import FeedSpec, FeedState, FetchResult, HealthState, ParsedFeed, Severity
from monitor.state.sqlite import SqliteStore
from tests.support import FakeClock

FEED = FeedSpec(id="flaky", url="https://feeds.example/flaky.xml", interval_s=900.0)


class ScriptedFetcher:
    """Fails while ``failing`` is set (timeouts, or 410 when ``gone``), else answers 304."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.failing = True
        self.gone = False
        self.calls: list[float] = []

    async def fetch(self, feed: FeedSpec, state: FeedState) -> FetchResult:
        self.calls.append(self.clock.now().timestamp())
        if self.gone:
            raise FetchHTTPStatus(feed.id, 410)
        if self.failing:
            raise FetchTimeout(feed.id, "no answer within 30 s")
        return FetchResult(
            feed_id=feed.id,
            url=feed.url,
            status=304,
            body=b"",
            fetched_at=self.clock.now(),
            elapsed_s=0.01,
        )


class NoParser:
    async def parse(self, result: FetchResult, feed: FeedSpec) -> ParsedFeed:
        raise AssertionError("a 304 is never parsed")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[FeedPoller, ScriptedFetcher, SqliteStore, FakeClock]:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "state.db")
    fetcher = ScriptedFetcher(clock)
    poller = FeedPoller(
        fetcher=fetcher,
        parser=NoParser(),
        store=store,
        pack=compile_pack(watchlists=[], rules=[]),
        destinations=(),
        clock=clock,
        health_destinations=("ops",),
        policy=PollPolicy(backoff_base_s=60.0, backoff_cap_s=86_400.0, failing_after=3),
        rng=lambda: 0.5,
    )
    return poller, fetcher, store, clock


async def _run_for(poller: FeedPoller, store: SqliteStore, clock: FakeClock, hours: float) -> None:
    """Advance the clock minute by minute, polling whenever the feed is due."""
    end = clock.now() + timedelta(hours=hours)
    while clock.now() < end:
        await poller.poll(FEED)
        next_at = store.feed_state(FEED.id).next_poll_at
        assert next_at is not None, "a failing feed must always have a next poll"
        clock.current = max(clock.now() + timedelta(minutes=1), min(next_at, end))


def _health_alerts(store: SqliteStore) -> list[tuple[str, str]]:
    return [
        (e.alert.health_before, e.alert.health_after)
        for e in reversed(store.outbox(limit=1000))
        if e.alert.event == "feed.health"
    ]


async def test_a_feed_failing_for_two_days_is_polled_daily_and_alerted_once(
    setup: tuple[FeedPoller, ScriptedFetcher, SqliteStore, FakeClock],
) -> None:
    poller, fetcher, store, clock = setup
    start = clock.now().timestamp()
    await _run_for(poller, store, clock, hours=48)

    # never given up: at least one poll in every 24 h window, backoff capped at a day
    calls = fetcher.calls
    gaps = [b - a for a, b in pairwise(calls)]
    assert max(gaps) <= 86_400 * 1.25  # the cap, plus at most the jitter
    assert calls[-1] - start > 86_400
    assert gaps[-1] > 10 * gaps[0]  # exponential backoff, not a fixed retry
    state = store.feed_state(FEED.id)
    assert state.health == "failing"
    assert state.consecutive_failures == len(calls)
    assert "no answer within 30 s" in (state.last_error or "")
    # exactly one alert for the transition, however many failures followed
    assert _health_alerts(store) == [("new", "failing")]
    [entry] = store.outbox(limit=10)
    assert entry.destination_id == "ops"
    assert "flaky" in entry.alert.story.title and "failing" in entry.alert.story.title

    # recovery: one more alert, then quiet
    fetcher.failing = False
    clock.current = state.next_poll_at or clock.now()
    await _run_for(poller, store, clock, hours=6)
    assert store.feed_state(FEED.id).health == "ok"
    assert _health_alerts(store) == [("new", "failing"), ("failing", "ok")]


async def test_gone_feed_is_slowed_to_the_cap_and_alerts_at_once(
    setup: tuple[FeedPoller, ScriptedFetcher, SqliteStore, FakeClock],
) -> None:
    poller, fetcher, store, clock = setup
    fetcher.gone = True
    await _run_for(poller, store, clock, hours=50)
    calls = fetcher.calls
    assert 2 <= len(calls) <= 4  # about once a day, still polled
    assert _health_alerts(store) == [("new", "failing")]
    assert store.feed_state(FEED.id).last_status == 410


# --- the transition rules -----------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def state(**kwargs: object) -> FeedState:
    return FeedState("f", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("feed", "expected"),
    [
        (state(), "new"),
        (state(consecutive_failures=2), "new"),
        (state(consecutive_failures=3), "failing"),
        (state(consecutive_failures=1, last_status=410, health="ok"), "failing"),
        (state(consecutive_failures=1, health="ok"), "ok"),  # one blip keeps the state
        (state(consecutive_failures=1, health="stale"), "stale"),
        (state(last_success_at=NOW, last_new_item_at=NOW - timedelta(hours=2)), "ok"),
        (state(last_success_at=NOW, last_new_item_at=NOW - timedelta(days=2)), "stale"),
        (state(last_success_at=NOW, last_new_item_at=None), "ok"),
        (state(last_success_at=NOW, health="failing"), "ok"),
    ],
)
def test_health_after(feed: FeedState, expected: HealthState) -> None:
    assert (
        health_after(feed, now=NOW, interval_s=900.0, failing_after=3, stale_factor=10.0)
        == expected
    )


def test_stale_uses_the_feeds_cadence_when_known() -> None:
    weekly = state(last_success_at=NOW, last_new_item_at=NOW - timedelta(days=20))
    assert health_after(weekly, now=NOW, interval_s=900.0, cadence_s=7 * 86_400.0) == "ok"
    assert health_after(weekly, now=NOW, interval_s=900.0, cadence_s=86_400.0) == "stale"


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        ("new", "ok", False),
        ("ok", "failing", True),
        ("failing", "ok", True),
        ("ok", "ok", False),
        ("new", "failing", True),
        ("ok", "stale", True),
    ],
)
def test_health_changed(before: HealthState, after: HealthState, changed: bool) -> None:
    assert health_changed(before, after) is changed


def test_health_alert_names_the_transition_and_hides_the_feed_urls_secrets() -> None:
    feed = FeedSpec(id="f", url="https://user:tok@feeds.example:8443/x.xml?key=s", interval_s=60.0)
    before = state(health="ok")
    after = state(health="failing", consecutive_failures=3, last_error="fetch: 503 from f")
    [alert] = health_alerts(feed, before, after, NOW, ["ops"])
    assert (alert.event, alert.destination_id, alert.severity) == (
        "feed.health",
        "ops",
        Severity.MEDIUM,
    )
    assert alert.story.title == "Feed f is failing: 3 failures in a row"
    assert alert.story.summary == "fetch: 503 from f"
    assert alert.story.url == "https://feeds.example:8443/x.xml"
    assert (alert.health_before, alert.health_after) == ("ok", "failing")
    recovered = health_alerts(feed, after, state(health="ok"), NOW, ["ops"])[0]
    assert recovered.story.title == "Feed f has recovered (failing → ok)"
    assert recovered.severity == Severity.LOW and recovered.key != alert.key
