"""The optional adaptive interval: a feed is polled at half its own publishing rhythm."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.detect.match import compile_pack
from monitor.detect.poller import FeedPoller
from monitor.models import FeedSpec, FeedState, FetchResult, ParsedFeed, Story
from monitor.state.sqlite import SqliteStore
from tests.support import FakeClock


class Server:
    """200 with a new body while ``gap_min`` items keep coming, else 304."""

    def __init__(self, clock: FakeClock, gap_min: float) -> None:
        self.clock = clock
        self.gap_min = gap_min
        self.changed = True

    async def fetch(self, feed: FeedSpec, state: FeedState) -> FetchResult:
        status = 200 if self.changed else 304
        body = str(self.clock.now()).encode() if self.changed else b""
        return FetchResult(feed.id, feed.url, status, body, self.clock.now())

    async def parse(self, result: FetchResult, feed: FeedSpec) -> ParsedFeed:
        now = self.clock.now()
        stories = tuple(
            Story(
                feed_id=feed.id,
                title=f"item {k} at {now}",
                url=f"https://news.example/{now.timestamp()}/{k}",
                fetched_at=now,
                published_at=now - timedelta(minutes=self.gap_min * k),
            )
            for k in range(10)
        )
        return ParsedFeed(feed.id, "rss20", "News", stories)


def _poller(tmp_path: Path, clock: FakeClock, server: Server) -> tuple[FeedPoller, SqliteStore]:
    store = SqliteStore(tmp_path / "state.db")
    poller = FeedPoller(
        fetcher=server,
        parser=server,
        store=store,
        pack=compile_pack(watchlists=[], rules=[]),
        destinations=(),
        clock=clock,
        rng=lambda: 0.0,  # no jitter
    )
    return poller, store


async def test_interval_follows_the_feeds_rhythm_within_bounds(tmp_path: Path) -> None:
    clock = FakeClock()
    server = Server(clock, gap_min=40)
    poller, store = _poller(tmp_path, clock, server)
    feed = FeedSpec(
        "busy", "https://news.example/rss", interval_s=900, adaptive_bounds_s=(300, 7200)
    )
    outcome = await poller.poll(feed)
    assert outcome.next_poll_at == clock.now() + timedelta(minutes=20)  # half of 40 min
    # a 304 keeps the interval learnt from the last body
    server.changed = False
    clock.current = outcome.next_poll_at
    outcome = await poller.poll(feed)
    assert outcome.next_poll_at == clock.now() + timedelta(minutes=20)
    # a feed that publishes every minute is held at the lower bound
    server.changed, server.gap_min = True, 1
    clock.current = outcome.next_poll_at
    outcome = await poller.poll(feed)
    assert outcome.next_poll_at == clock.now() + timedelta(seconds=300)
    # and a quiet one at the upper bound
    server.gap_min = 24 * 60
    clock.current = outcome.next_poll_at
    outcome = await poller.poll(feed)
    assert outcome.next_poll_at == clock.now() + timedelta(seconds=7200)
    assert store.feed_state("busy").interval_s == 7200
    assert feed.trigger_interval_s == 300


async def test_without_bounds_the_configured_interval_is_kept(tmp_path: Path) -> None:
    clock = FakeClock()
    poller, store = _poller(tmp_path, clock, Server(clock, gap_min=40))
    feed = FeedSpec("plain", "https://news.example/rss", interval_s=900)
    outcome = await poller.poll(feed)
    assert outcome.next_poll_at == clock.now() + timedelta(seconds=900)
    assert store.feed_state("plain").interval_s is None
    assert feed.trigger_interval_s == 900
