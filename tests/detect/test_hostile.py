"""The hostile-server suite (issue 5, point 6) at the fetch + parse level.

Every misbehaviour is served by the real loopback ``FeedServer`` and goes through the real
``FeedFetcher`` and ``ProcessParser``: each feed ends in a result or a typed error whose
message names the feed, memory stays bounded under the gzip bomb and the endless body, and a
well-behaved feed polled at the same time is unaffected.
"""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from monitor.detect.fetch import FeedFetcher, build_client
from monitor.detect.parse_pool import ProcessParser
from monitor.detect.schedule import next_poll_at
from monitor.errors import (
    FetchConnectError,
    FetchHTTPStatus,
    FetchRedirectError,
    FetchTimeout,
    FetchTooLarge,
    MonitorError,
    ParseError,
)
from monitor.models import FeedSpec, FeedState, ParsedFeed
from tests.servers.feed_server import (
    HTML_PAGE,
    RECOVERABLE_XML,
    FeedServer,
    dotted_author_feed,
    feed_server,
    synthetic_feed,
)
from tests.support import FakeClock

__all__ = ["feed_server"]

CAP_BYTES = 1_000_000
GOOD = synthetic_feed(7, items=10)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with build_client(user_agent="hostile-suite/1", timeout_s=5.0) as c:
        yield c


@pytest.fixture
def parser() -> Iterator[ProcessParser]:
    pool = ProcessParser(time_limit_s=1.0, workers=2)
    yield pool
    pool.close()


@dataclass
class Poll:
    """What fetch + parse made of one feed."""

    feed_id: str
    parsed: ParsedFeed | None = None
    status: int | None = None
    error: MonitorError | None = None


async def poll(
    fetcher: FeedFetcher, parser: ProcessParser, feed: FeedSpec, state: FeedState, done: list[str]
) -> Poll:
    """fetch → parse as the pipeline does, turning errors into a recorded outcome."""
    try:
        result = await fetcher.fetch(feed, state)
        parsed = None if result.not_modified else await parser.parse(result, feed)
        outcome = Poll(feed.id, parsed=parsed, status=result.status)
    except MonitorError as exc:
        outcome = Poll(feed.id, error=exc)
    done.append(feed.id)
    return outcome


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"


def serve_hostile(server: FeedServer) -> dict[str, tuple[str, FeedState]]:
    """Every hostile path of the issue, plus a good feed; id → (url, stored state)."""
    s = server
    s.set_feed("/good.xml", GOOD, etag='"good"')
    s.set_feed("/trickle.xml", GOOD, behaviour="trickle", interval_s=0.1)
    s.set_feed("/endless.xml", behaviour="endless")
    s.set_feed("/bomb.xml", behaviour="gzip_bomb")
    s.set_feed("/loop.xml", behaviour="redirect_loop")
    s.set_feed("/ftp.xml", behaviour="redirect", location="ftp://example.org/feed.xml")
    s.set_feed("/js.xml", behaviour="redirect", location="javascript:alert(1)")
    s.set_feed(
        "/429.xml", b"slow down", behaviour="status", status=429, headers=[("Retry-After", "3600")]
    )
    s.set_feed("/500.xml", b"oops", behaviour="status", status=500)
    s.set_feed("/410.xml", b"gone", behaviour="status", status=410)
    s.set_feed("/html.xml", HTML_PAGE, content_type="text/html; charset=utf-8")
    s.set_feed("/broken.xml", RECOVERABLE_XML)
    s.set_feed("/author.xml", dotted_author_feed(30_000))
    s.set_feed("/304.xml", GOOD, etag='"e1"')
    s.set_feed("/304-no-etag.xml", GOOD, etag='"e2"', etag_on_304=False)
    s.set_feed("/lm-only.xml", GOOD, last_modified="Sun, 01 Mar 2026 08:00:00 GMT")
    s.set_feed("/etag-changing.xml", GOOD, behaviour="etag_changing")
    feeds = {
        path.strip("/").removesuffix(".xml"): (s.url(path), FeedState(path))
        for path in list(s.routes)
    }
    feeds["304"] = (s.url("/304.xml"), FeedState("304", etag='"e1"'))
    feeds["304-no-etag"] = (s.url("/304-no-etag.xml"), FeedState("x", etag='"e2"'))
    feeds["lm-only"] = (
        s.url("/lm-only.xml"),
        FeedState("lm", last_modified="Sun, 01 Mar 2026 08:00:00 GMT"),
    )
    feeds["etag-changing"] = (s.url("/etag-changing.xml"), FeedState("ec", etag='"gen-0"'))
    feeds["refused"] = (refused_url(), FeedState("refused"))
    return feeds


EXPECTED: dict[str, tuple[type[MonitorError] | int, str]] = {
    "good": (200, ""),
    "trickle": (FetchTimeout, "no complete answer within 2 s"),
    "endless": (FetchTooLarge, "byte cap"),
    "bomb": (FetchTooLarge, "byte cap"),
    "loop": (FetchRedirectError, "more than 5 redirects"),
    "ftp": (FetchRedirectError, "non-http(s) URL 'ftp://example.org/feed.xml'"),
    "js": (FetchRedirectError, "non-http(s)"),
    "429": (FetchHTTPStatus, "HTTP 429"),
    "500": (FetchHTTPStatus, "HTTP 500"),
    "410": (FetchHTTPStatus, "HTTP 410"),
    "refused": (FetchConnectError, "connection failed"),
    "html": (ParseError, "not a feed (an HTML page"),
    "broken": (200, ""),
    "author": (ParseError, "parse took longer than 1 s (worker killed)"),
    "304": (304, ""),
    "304-no-etag": (304, ""),
    "lm-only": (304, ""),
    "etag-changing": (200, ""),
}


async def test_every_hostile_feed_fails_alone_with_a_clear_message(
    feed_server: FeedServer, client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    fetcher = FeedFetcher(client=client, clock=FakeClock(), max_bytes=CAP_BYTES, timeout_s=2.0)
    feeds = serve_hostile(feed_server)
    # Both parser workers start first: on a loaded host an interpreter's start-up alone can
    # outlast the trickling feed's 2 s, and start-up is not what this test is about.
    warm = await fetcher.fetch(FeedSpec("warm", feeds["good"][0]), FeedState("warm"))
    await asyncio.gather(*(parser.parse(warm, FeedSpec("warm", warm.url)) for _ in range(2)))
    done: list[str] = []
    outcomes = await asyncio.gather(
        *(
            poll(fetcher, parser, FeedSpec(fid, url), state, done)
            for fid, (url, state) in feeds.items()
        )
    )
    by_id = {o.feed_id: o for o in outcomes}
    assert set(by_id) == set(EXPECTED)
    for feed_id, (expected, words) in EXPECTED.items():
        outcome = by_id[feed_id]
        if isinstance(expected, int):
            assert outcome.error is None and outcome.status == expected, (feed_id, outcome.error)
        else:
            assert isinstance(outcome.error, expected), (feed_id, outcome.error)
            message = str(outcome.error)
            # fetch errors end with the host as well (parse errors with the feed id)
            assert words in message and message.endswith((feed_id, f"{feed_id} (127.0.0.1)")), (
                feed_id
            )
    # The good feed was parsed in full and finished long before the stalling ones gave up.
    good = by_id["good"].parsed
    assert good is not None and len(good.stories) == 10
    assert done.index("good") < done.index("trickle")
    assert done.index("good") < done.index("author")
    broken = by_id["broken"].parsed
    assert broken is not None and len(broken.stories) == 2 and broken.bozo


async def test_status_errors_steer_the_next_poll(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    """429's Retry-After is honoured; 410 slows the feed to the daily cap, never drops it."""
    clock = FakeClock()
    fetcher = FeedFetcher(client=client, clock=clock)
    serve_hostile(feed_server)
    waits = {}
    for name in ("429", "410", "500"):
        with pytest.raises(FetchHTTPStatus) as caught:
            await fetcher.fetch(FeedSpec(name, feed_server.url(f"/{name}.xml")), FeedState(name))
        exc = caught.value
        when = next_poll_at(
            now=clock.now(),
            interval_s=900.0,
            rng_value=0.5,
            failures=1,
            retry_after_s=exc.retry_after_s,
            gone=exc.status == 410,
        )
        waits[name] = (when - clock.now()).total_seconds()
    assert waits["429"] == 3600.0
    assert waits["410"] == pytest.approx(86_400.0 - 30.0)
    assert 800.0 < waits["500"] <= 900.0


@pytest.mark.parametrize("path", ["/bomb.xml", "/endless.xml"])
async def test_memory_stays_bounded_under_bomb_and_endless_body(
    feed_server: FeedServer, client: httpx.AsyncClient, path: str
) -> None:
    # The bomb inflates to 10 GiB and the endless body never ends: the peak of Python memory
    # allocated while fetching must stay within a few times the 1 MB cap.
    serve_hostile(feed_server)
    fetcher = FeedFetcher(client=client, clock=FakeClock(), max_bytes=CAP_BYTES, timeout_s=10.0)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(FetchTooLarge):
            await fetcher.fetch(FeedSpec("m", feed_server.url(path)), FeedState("m"))
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"peak traced memory for {path}: {peak_bytes} bytes")
    assert peak_bytes < 4 * CAP_BYTES, f"peak {peak_bytes} bytes"


async def test_parse_time_limit_on_the_dotted_author_and_recovery(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    # feedparser needs seconds of CPU for this author (quadratic); the limit kills the worker.
    serve_hostile(feed_server)
    fetcher = FeedFetcher(client=client, clock=FakeClock())
    pool = ProcessParser(time_limit_s=0.5)
    try:
        bad = await fetcher.fetch(
            FeedSpec("author", feed_server.url("/author.xml")), FeedState("a")
        )
        with pytest.raises(ParseError, match=r"longer than 0\.5 s"):
            await pool.parse(bad, FeedSpec("author", bad.url))
        good = await fetcher.fetch(FeedSpec("good", feed_server.url("/good.xml")), FeedState("g"))
        parsed = await pool.parse(good, FeedSpec("good", good.url))
        assert len(parsed.stories) == 10 and pool.killed == 1
    finally:
        pool.close()
