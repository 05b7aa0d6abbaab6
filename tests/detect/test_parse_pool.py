"""ProcessParser: results equal the in-process parse; overruns and crashes cost one ParseError."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitor.detect.dedup import story_key
from monitor.detect.parse import parse_feed
from monitor.detect.parse_pool import ProcessParser
from monitor.errors import ParseError
from monitor.models import FeedSpec, FetchResult
from tests.servers.feed_server import HTML_PAGE, dotted_author_feed, synthetic_feed

FEED = FeedSpec("pool-feed", "https://pool.example/feed.xml")


def result(body: bytes) -> FetchResult:
    return FetchResult(
        FEED.id,
        FEED.url,
        200,
        body,
        datetime(2026, 3, 1, tzinfo=UTC),
        content_type="application/rss+xml",
    )


@pytest.fixture
def parser() -> Iterator[ProcessParser]:
    pool = ProcessParser(time_limit_s=10.0)
    yield pool
    pool.close()


async def test_worker_result_equals_the_in_process_parse_with_keys(parser: ProcessParser) -> None:
    body = synthetic_feed(3, items=20)
    local = parse_feed(result(body), FEED)
    keyed = replace(local, stories=tuple(replace(s, key=story_key(s)) for s in local.stories))
    parsed = await parser.parse(result(body), FEED)
    assert parsed == keyed
    assert all(s.key.startswith("url:https://news3.example/3/") for s in parsed.stories)
    assert parser.parses == 1 and parser.feedparser_cpu_s > 0 and parser.extract_cpu_s > 0


async def test_parse_error_crosses_the_process_boundary_and_keeps_the_worker(
    parser: ProcessParser,
) -> None:
    with pytest.raises(ParseError, match=r"not a feed .*HTML page.* in pool-feed"):
        await parser.parse(result(HTML_PAGE), FEED)
    pids = parser.worker_pids
    await parser.parse(result(synthetic_feed(1, items=2)), FEED)
    assert parser.killed == 0 and parser.worker_pids == pids


async def test_overrun_kills_the_worker_and_the_next_parse_gets_a_fresh_one() -> None:
    pool = ProcessParser(time_limit_s=0.5)
    try:
        # A cold worker: its start-up (~0.3 s of imports) is not part of the time limit.
        await pool.parse(result(synthetic_feed(1, items=2)), FEED)
        (first_pid,) = pool.worker_pids
        with pytest.raises(ParseError, match=r"longer than 0\.5 s \(worker killed\) in pool-feed"):
            await pool.parse(result(dotted_author_feed(30_000)), FEED)
        assert pool.killed == 1 and pool.worker_pids == []
        with pytest.raises(ProcessLookupError):
            os.kill(first_pid, 0)
        parsed = await pool.parse(result(synthetic_feed(2, items=5)), FEED)
        assert len(parsed.stories) == 5 and pool.worker_pids != [first_pid]
    finally:
        pool.close()


async def test_a_worker_that_dies_mid_parse_is_a_parse_error(parser: ProcessParser) -> None:
    await parser.parse(result(synthetic_feed(1, items=2)), FEED)
    (pid,) = parser.worker_pids
    task = asyncio.create_task(parser.parse(result(dotted_author_feed(30_000)), FEED))
    await asyncio.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ParseError, match=r"parser worker died \(exit code -9\) in pool-feed"):
        await task
    assert parser.killed == 1


async def test_workers_run_in_parallel_up_to_the_limit() -> None:
    pool = ProcessParser(time_limit_s=10.0, workers=2)
    try:
        bodies = [synthetic_feed(n, items=3) for n in range(4)]
        parsed = await asyncio.gather(*(pool.parse(result(b), FEED) for b in bodies))
        assert [p.stories[0].title.split(":")[0] for p in parsed] == [
            f"Feed {n} story 0" for n in range(4)
        ]
        assert len(pool.worker_pids) == 2
    finally:
        pool.close()
    assert pool.worker_pids == []


async def test_close_kills_idle_workers(parser: ProcessParser) -> None:
    await parser.parse(result(synthetic_feed(1, items=2)), FEED)
    (pid,) = parser.worker_pids
    parser.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_body_larger_than_the_pipe_buffer_goes_through(parser: ProcessParser) -> None:
    # ~800 KB: written in pieces as the worker reads, without blocking the event loop.
    body = synthetic_feed(9, items=400, item_bytes=2000)
    assert len(body) > 10 * 65_536
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    parsed = await parser.parse(result(body), FEED)
    task.cancel()
    assert len(parsed.stories) == 400 and parsed.stories[-1].guid == "feed-9-story-399"
    assert ticks > 5  # the loop kept running while the job was sent and parsed
