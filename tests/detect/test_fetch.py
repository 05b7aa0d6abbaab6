"""FeedFetcher against a real loopback feed server: validators, caps, redirects, limits, errors."""

from __future__ import annotations

import asyncio
import gzip
import socket
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from monitor.detect.fetch import (
    BodyTooLarge,
    BoundedDecoder,
    FeedFetcher,
    build_client,
    parse_retry_after,
)
from monitor.errors import (
    FetchConnectError,
    FetchError,
    FetchHTTPStatus,
    FetchRedirectError,
    FetchTimeout,
    FetchTooLarge,
)
from monitor.models import FeedSpec, FeedState
from tests.servers.feed_server import FeedServer, feed_server, item, rss_feed
from tests.support import FakeClock

__all__ = ["feed_server"]

BODY = rss_feed([item("Putin gives Kim an Aurus", link="https://example.org/a", guid="a1")])


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with build_client(
        user_agent="sanctions-monitor-test/1 (+https://example.org/contact)", timeout_s=5.0
    ) as c:
        yield c


def fetcher(client: httpx.AsyncClient, **kwargs: float) -> FeedFetcher:
    options: dict[str, float] = {"timeout_s": 3.0, "max_bytes": 200_000, **kwargs}
    return FeedFetcher(client=client, clock=FakeClock(), **options)  # type: ignore[arg-type]


def spec(server: FeedServer, path: str) -> FeedSpec:
    return FeedSpec(id=f"feed{path.replace('/', '-')}", url=server.url(path))


# --- conditional GET -----------------------------------------------------------------------


async def test_first_fetch_sends_politeness_headers_and_returns_validators(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed(
        "/f.xml", BODY, etag='W/"v1"', last_modified="Sun, 01 Mar 2026 10:00:00 GMT"
    )
    result = await fetcher(client).fetch(spec(feed_server, "/f.xml"), FeedState("f"))
    assert (result.status, result.body) == (200, BODY)
    assert result.etag == 'W/"v1"'
    assert result.last_modified == "Sun, 01 Mar 2026 10:00:00 GMT"
    assert result.content_type is not None and "rss" in result.content_type
    sent = feed_server.requests[-1].headers
    assert "gzip" in sent["accept-encoding"]
    assert sent["user-agent"].startswith("sanctions-monitor-test/1 (+https://")
    assert "if-none-match" not in sent and "if-modified-since" not in sent


async def test_validators_are_sent_back_exactly_and_304_has_no_body(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    odd_date = "Sun,  1 Mar 2026 10:00:00 GMT"  # not normalised: servers compare strings
    feed_server.set_feed("/f.xml", BODY, etag='W/"v1"', last_modified=odd_date)
    state = FeedState("f", etag='W/"v1"', last_modified=odd_date)
    result = await fetcher(client).fetch(spec(feed_server, "/f.xml"), state)
    assert result.status == 304 and result.not_modified and result.body == b""
    assert result.etag == 'W/"v1"'
    sent = feed_server.requests[-1].headers
    assert sent["if-none-match"] == 'W/"v1"'
    assert sent["if-modified-since"] == odd_date


async def test_last_modified_only_feed_gets_if_modified_since_and_304(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    stamp = "Sun, 01 Mar 2026 10:00:00 GMT"
    feed_server.set_feed("/lm.xml", BODY, last_modified=stamp)
    first = await fetcher(client).fetch(spec(feed_server, "/lm.xml"), FeedState("lm"))
    assert first.etag is None and first.last_modified == stamp
    second = await fetcher(client).fetch(
        spec(feed_server, "/lm.xml"), FeedState("lm", last_modified=first.last_modified)
    )
    assert second.status == 304
    assert "if-none-match" not in feed_server.requests[-1].headers


async def test_304_without_etag_reports_none_so_the_stored_one_is_kept(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/f.xml", BODY, etag='"v1"', etag_on_304=False)
    result = await fetcher(client).fetch(spec(feed_server, "/f.xml"), FeedState("f", etag='"v1"'))
    assert result.status == 304 and result.etag is None


async def test_etag_changing_every_time_always_gets_the_body(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/f.xml", BODY, behaviour="etag_changing")
    f, feed = fetcher(client), spec(feed_server, "/f.xml")
    first = await f.fetch(feed, FeedState("f"))
    second = await f.fetch(feed, FeedState("f", etag=first.etag))
    assert second.status == 200 and second.body == BODY
    assert first.etag != second.etag
    assert feed_server.requests[-1].headers["if-none-match"] == first.etag


# --- bodies and caps -------------------------------------------------------------------------


async def test_gzip_body_is_decompressed(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/gz.xml", BODY, gzip=True)
    result = await fetcher(client).fetch(spec(feed_server, "/gz.xml"), FeedState("gz"))
    assert result.body == BODY


async def test_gzip_bomb_stops_at_the_cap_on_decompressed_bytes(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/bomb.xml", behaviour="gzip_bomb")
    with pytest.raises(FetchTooLarge, match=r"200000 byte cap from feed-bomb\.xml"):
        await fetcher(client).fetch(spec(feed_server, "/bomb.xml"), FeedState("b"))


async def test_endless_body_stops_at_the_cap(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/endless.xml", behaviour="endless")
    with pytest.raises(FetchTooLarge):
        await fetcher(client).fetch(spec(feed_server, "/endless.xml"), FeedState("e"))


async def test_declared_length_over_the_cap_fails_before_reading(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/big.xml", b"x" * 300_000)
    with pytest.raises(FetchTooLarge, match="300000 bytes"):
        await fetcher(client).fetch(spec(feed_server, "/big.xml"), FeedState("big"))


async def test_body_just_under_the_cap_passes(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/edge.xml", b"y" * 200_000, gzip=True)
    result = await fetcher(client).fetch(spec(feed_server, "/edge.xml"), FeedState("edge"))
    assert len(result.body) == 200_000


async def test_trickling_server_hits_the_total_deadline(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    # One byte every 0.1 s never trips a per-read timeout; only the total deadline ends it.
    feed_server.set_feed("/slow.xml", BODY, behaviour="trickle", interval_s=0.1)
    with pytest.raises(FetchTimeout, match=r"within 0\.8 s from feed-slow\.xml"):
        await fetcher(client, timeout_s=0.8).fetch(spec(feed_server, "/slow.xml"), FeedState("s"))


# --- redirects -------------------------------------------------------------------------------


async def test_redirect_is_followed_and_final_url_reported(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/new.xml", BODY, etag='"n"')
    feed_server.set_feed("/old.xml", behaviour="redirect", status=301, location="/new.xml")
    result = await fetcher(client).fetch(spec(feed_server, "/old.xml"), FeedState("o", etag='"n"'))
    assert result.status == 304
    assert result.url == feed_server.url("/new.xml")
    # The validators travel with the redirect, so the target can still answer 304.
    assert feed_server.requests_for("/new.xml")[-1].headers["if-none-match"] == '"n"'


async def test_redirect_loop_gives_up_after_max_redirects(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/loop.xml", behaviour="redirect_loop")
    with pytest.raises(FetchRedirectError, match="more than 3 redirects"):
        await fetcher(client, max_redirects=3).fetch(spec(feed_server, "/loop.xml"), FeedState("l"))
    assert len(feed_server.requests_for("/loop.xml")) == 4


@pytest.mark.parametrize(
    "location",
    [
        "ftp://example.org/feed.xml",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/xml,<rss/>",
    ],
)
async def test_redirect_to_a_non_http_scheme_is_refused(
    feed_server: FeedServer, client: httpx.AsyncClient, location: str
) -> None:
    feed_server.set_feed("/r.xml", behaviour="redirect", location=location)
    with pytest.raises(FetchRedirectError, match="non-http"):
        await fetcher(client).fetch(spec(feed_server, "/r.xml"), FeedState("r"))


async def test_non_http_feed_url_is_refused_without_a_request(client: httpx.AsyncClient) -> None:
    with pytest.raises(FetchError, match="unsupported URL scheme 'file'"):
        await fetcher(client).fetch(FeedSpec("local", "file:///etc/passwd"), FeedState("local"))


# --- status codes and connection errors -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "retry_after_s"),
    [
        (429, [("Retry-After", "120")], 120.0),
        (503, [("Retry-After", "Sun, 01 Mar 2026 12:05:00 GMT")], 300.0),
        (500, [], None),
        (410, [], None),
        (404, [], None),
    ],
)
async def test_error_statuses_carry_status_and_retry_after(
    feed_server: FeedServer,
    client: httpx.AsyncClient,
    status: int,
    headers: list[tuple[str, str]],
    retry_after_s: float | None,
) -> None:
    # FakeClock starts at 2026-03-01 12:00 UTC, so the HTTP-date above is 300 s away.
    feed_server.set_feed("/s.xml", b"no", behaviour="status", status=status, headers=headers)
    with pytest.raises(FetchHTTPStatus) as caught:
        await fetcher(client).fetch(spec(feed_server, "/s.xml"), FeedState("s"))
    assert caught.value.status == status
    assert caught.value.retry_after_s == retry_after_s
    assert str(caught.value) == f"fetch: HTTP {status} from feed-s.xml (127.0.0.1)"


async def test_connection_refused_is_a_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and now has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    feed = FeedSpec("refused", f"http://127.0.0.1:{port}/feed.xml")
    with pytest.raises(FetchConnectError, match="from refused"):
        await fetcher(client).fetch(feed, FeedState("refused"))


async def test_server_closing_without_answer_is_a_connect_error(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/close.xml", behaviour="close")
    with pytest.raises(FetchConnectError):
        await fetcher(client).fetch(spec(feed_server, "/close.xml"), FeedState("c"))


async def test_unsupported_content_encoding_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "br"}, content=b"\x00\x01")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock:
        f = FeedFetcher(client=mock, clock=FakeClock())
        with pytest.raises(FetchError, match="unsupported content-encoding br from x"):
            await f.fetch(FeedSpec("x", "http://127.0.0.1/x"), FeedState("x"))


async def test_corrupt_gzip_is_an_error_naming_the_feed(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed(
        "/bad.gz",
        b"not gzip at all",
        behaviour="status",
        status=200,
        headers=[("Content-Encoding", "gzip")],
    )
    with pytest.raises(FetchError, match=r"corrupt gzip body .* from feed-bad\.gz"):
        await fetcher(client).fetch(spec(feed_server, "/bad.gz"), FeedState("x"))


# --- concurrency limits ------------------------------------------------------------------------


async def test_per_host_limit_bounds_concurrent_requests(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set_feed("/slow.xml", BODY, behaviour="slow", delay_s=0.3)
    f = fetcher(client, per_host_limit=2, global_limit=10)
    feed = spec(feed_server, "/slow.xml")
    await asyncio.gather(*(f.fetch(feed, FeedState("s")) for _ in range(5)))
    assert feed_server.max_in_flight == 2


async def test_waiting_for_a_slot_does_not_eat_the_deadline(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    # Three fetches of 0.4 s through one slot take 1.2 s in all, past the 1 s deadline of each.
    feed_server.set_feed("/slow.xml", BODY, behaviour="slow", delay_s=0.4)
    f = fetcher(client, timeout_s=1.0, global_limit=1)
    feed = spec(feed_server, "/slow.xml")
    results = await asyncio.gather(*(f.fetch(feed, FeedState("s")) for _ in range(3)))
    assert [r.status for r in results] == [200, 200, 200]
    assert feed_server.max_in_flight == 1


# --- pure helpers ------------------------------------------------------------------------------


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 0 ", 0.0),
        ("Sun, 01 Mar 2026 12:01:00 GMT", 60.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("codings", "encoded"),
    [
        (["gzip"], gzip.compress(b"hello " * 1000)),
        (["gzip"], gzip.compress(b"hello " * 500) + gzip.compress(b"hello " * 500)),
        (["deflate"], zlib.compress(b"hello " * 1000)),
        (["deflate"], _raw_deflate(b"hello " * 1000)),
        (["gzip", "gzip"], gzip.compress(gzip.compress(b"hello " * 1000))),
        ([], b"hello " * 1000),
    ],
    ids=["gzip", "multi-member", "zlib", "raw-deflate", "chain", "identity"],
)
def test_bounded_decoder_decodes_in_small_chunks(codings: list[str], encoded: bytes) -> None:
    decoder = BoundedDecoder(codings, max_bytes=6000)
    out = b"".join(decoder.feed(encoded[i : i + 7]) for i in range(0, len(encoded), 7))
    assert out + decoder.flush() == b"hello " * 1000


def test_bounded_decoder_rejects_a_truncated_stream() -> None:
    decoder = BoundedDecoder(["gzip"], max_bytes=100_000)
    decoder.feed(gzip.compress(b"<rss>" * 1000)[:-12])
    with pytest.raises(zlib.error, match="truncated"):
        decoder.flush()


def test_bounded_decoder_never_produces_more_than_cap_plus_one() -> None:
    bomb = gzip.compress(bytes(50_000_000))
    decoder = BoundedDecoder(["gzip"], max_bytes=100_000)
    with pytest.raises(BodyTooLarge):
        decoder.feed(bomb)
    assert decoder.stages[0].produced <= 100_001
