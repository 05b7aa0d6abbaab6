"""Fetch errors name the feed's host, and a health alert names the feed (issue 15)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from monitor.detect.fetch import FeedFetcher, build_client
from monitor.detect.route import health_alerts
from monitor.errors import FetchError, FetchHTTPStatus
from monitor.models import FeedSpec, FeedState
from tests.servers.feed_server import FeedServer, feed_server
from tests.support import FakeClock, free_port

__all__ = ["feed_server"]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with build_client(user_agent="sanctions-monitor-test/1", timeout_s=5.0) as c:
        yield c


def fetcher(client: httpx.AsyncClient) -> FeedFetcher:
    return FeedFetcher(client=client, clock=FakeClock(), timeout_s=3.0, max_bytes=100_000)


async def test_an_http_error_names_the_feed_and_its_host(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/gone.xml", b"no", behaviour="status", status=404)
    feed = FeedSpec(id="gone", url=feed_server.url("/gone.xml"))
    with pytest.raises(FetchHTTPStatus) as caught:
        await fetcher(client).fetch(feed, FeedState("gone"))
    assert str(caught.value) == "fetch: HTTP 404 from gone (127.0.0.1)"
    assert caught.value.status == 404 and caught.value.host == "127.0.0.1"


async def test_a_refused_connection_names_the_host(client: httpx.AsyncClient) -> None:
    feed = FeedSpec(id="closed", url=f"http://localhost:{free_port()}/feed.xml")
    with pytest.raises(FetchError) as caught:
        await fetcher(client).fetch(feed, FeedState("closed"))
    assert str(caught.value).startswith("fetch: connection failed")
    assert str(caught.value).endswith("from closed (localhost)")


def test_with_host_names_it_once() -> None:
    error = FetchError("f", "HTTP 500").with_host("a.example").with_host("b.example")
    assert str(error) == "fetch: HTTP 500 from f (a.example)"


@pytest.mark.parametrize(("name", "label"), [("Daily NK", "Daily NK (dailynk)"), (None, "dailynk")])
def test_health_alert_titles_name_the_feed(name: str | None, label: str) -> None:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    feed = FeedSpec(id="dailynk", url="https://www.dailynk.com/english/feed/", name=name)
    before = FeedState("dailynk", health="ok")
    after = FeedState("dailynk", health="failing", consecutive_failures=3, last_error="x")
    [alert] = health_alerts(feed, before, after, now, ["ops"])
    assert alert.story.title == f"Feed {label} is failing: 3 failures in a row"
