"""The pre-scan (issue 16): items found without parsing, only new ones parsed, same stories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.detect import prescan
from monitor.detect.parse_pool import ProcessParser
from monitor.models import FeedSpec, FetchResult
from tests.detect.prescan_check import FakeStore, check_body
from tests.servers.feed_server import RECOVERABLE_XML, atom_feed, synthetic_feed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
FEED = FeedSpec("scan-feed", "https://scan.example/feed.xml")
HEAD = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
TAIL = b"</channel></rss>"


def result(body: bytes, content_type: str | None = "application/rss+xml") -> FetchResult:
    return FetchResult(
        FEED.id, FEED.url, 200, body, datetime(2026, 3, 1, tzinfo=UTC), content_type=content_type
    )


def rss(*items: bytes, head: bytes = HEAD) -> bytes:
    return head + b"".join(items) + TAIL


def one(n: int, extra: bytes = b"") -> bytes:
    return (
        f"<item><title>Story {n}</title><link>https://scan.example/{n}</link>".encode()
        + extra
        + b"<pubDate>Sun, 01 Mar 2026 10:00:00 GMT</pubDate></item>"
    )


@pytest.mark.parametrize(
    ("body", "items"),
    [
        (rss(one(1), one(2)), 2),
        (rss(), 0),
        (rss(one(1, b"<description><![CDATA[<item>not one</item>]]></description>")), 1),
        (rss(one(1, b"<!-- </item><item> -->")), 1),
        (rss(b"<items>a list, not an item</items>", one(1)), 1),
        (atom_feed([("a", "https://scan.example/a"), ("b", "https://scan.example/b")]), 2),
    ],
)
def test_scan_finds_the_items(body: bytes, items: int) -> None:
    found = prescan.scan(body)
    assert found is not None and len(found.spans) == items
    assert all(body[a:b].startswith((b"<item", b"<entry")) for a, b in found.spans)


@pytest.mark.parametrize(
    "body",
    [
        rss(one(1), head=b'<!DOCTYPE rss [<!ENTITY x "y">]>' + HEAD),  # entities
        rss(b"<item><title>a</title><item><title>b</title></item></item>"),  # nested
        rss(b"<item><title>open</title>"),  # unclosed
        rss(b"<item/>", one(1)),  # empty element
        rss(b"<rss:item><title>a</title></rss:item>"),  # prefixed
        rss(b"<ITEM><title>a</title></ITEM>"),  # feedparser folds case; we do not guess
        rss(one(1, b"<description><![CDATA[never closed")),  # unclosed CDATA
        rss(b"<item><title>a</title></entry>"),  # mismatched
    ],
)
def test_scan_refuses_what_it_cannot_split_safely(body: bytes) -> None:
    assert prescan.scan(body) is None


def test_fingerprints_follow_the_context_but_not_the_channel_dates() -> None:
    built = HEAD + b"<lastBuildDate>Mon, 02 Mar 2026</lastBuildDate>"
    built_before = prescan.scan(rss(one(1), one(2), head=built))
    rebuilt = prescan.scan(rss(one(1), one(2), head=built.replace(b"Mon, 02", b"Tue, 03")))
    assert built_before and rebuilt and built_before.fingerprints == rebuilt.fingerprints
    base = prescan.scan(rss(one(1), one(2)))
    grown = prescan.scan(rss(one(0), one(1), one(2)))
    retitled = prescan.scan(rss(one(1), one(2), head=HEAD.replace(b"<title>T", b"<title>U")))
    assert base and grown and retitled
    assert base.fingerprints == grown.fingerprints[1:]  # two old items keep theirs
    assert not set(base.fingerprints) & set(retitled.fingerprints)  # outlet fallback changes
    salted = prescan.scan(rss(one(1), one(2)), salt=b"other feed")
    assert salted and not set(base.fingerprints) & set(salted.fingerprints)


def _fixture_bodies() -> list[tuple[str, bytes]]:
    files = sorted(p for p in FIXTURES.iterdir() if p.is_file())
    crafted = {
        "synthetic": synthetic_feed(4, 20, item_bytes=1500),
        "cdata-and-comments": rss(
            one(1, b"<description><![CDATA[<p>x</p><item>]]></description>"),
            one(2, b"<!-- </item> -->"),
            one(3),
        ),
        "atom": atom_feed([(f"t{n}", f"https://scan.example/{n}") for n in range(5)]),
        "recoverable-broken": RECOVERABLE_XML,
        "duplicate-links": rss(one(1), one(1, b"<description>other text</description>"), one(2)),
        "new-item-broken": rss(b"<item><title>a & b</title></item>", one(1), one(2)),
    }
    return [(p.name, p.read_bytes()) for p in files] + list(crafted.items())


@pytest.mark.parametrize(("name", "body"), _fixture_bodies(), ids=lambda v: str(v)[:30])
async def test_every_fixture_gives_todays_stories_or_falls_back(name: str, body: bytes) -> None:
    verdict = await check_body(result(body), FEED)
    assert verdict.ok, f"{name}: {verdict.problems}"


async def test_only_new_items_are_parsed_and_the_rest_is_counted() -> None:
    store = FakeStore()
    parser = ProcessParser(known=store.stored_digests)
    try:
        first = await parser.parse(result(synthetic_feed(2, 50)), FEED)
        store.commit(first)
        second = await parser.parse(result(synthetic_feed(2, 50, newest=-2)), FEED)
    finally:
        parser.close()
    assert len(first.stories) == 50 and first.unchanged_published == ()
    assert [s.guid for s in second.stories] == ["feed-2-story--2", "feed-2-story--1"]
    assert len(second.unchanged_published) == 48 and parser.items_skipped == 48
    assert store.asked[-1] and len(store.asked[-1]) == 48


async def test_a_story_the_store_lost_is_parsed_again() -> None:
    store = FakeStore()  # the first poll's commit never happened
    parser = ProcessParser(known=store.stored_digests)
    try:
        await parser.parse(result(synthetic_feed(2, 10)), FEED)
        again = await parser.parse(result(synthetic_feed(2, 10, newest=-2)), FEED)
    finally:
        parser.close()
    assert len(again.stories) == 10 and parser.items_skipped == 0


async def test_an_edited_item_is_parsed_again() -> None:
    store = FakeStore()
    parser = ProcessParser(known=store.stored_digests)
    try:
        store.commit(await parser.parse(result(rss(one(1), one(2))), FEED))
        edited = rss(one(1, b"<description>now with a summary</description>"), one(2))
        again = await parser.parse(result(edited), FEED)
    finally:
        parser.close()
    assert [s.summary for s in again.stories] == ["now with a summary"]
    assert len(again.unchanged_published) == 1


async def test_a_broken_new_item_makes_the_whole_body_parse_as_before() -> None:
    store = FakeStore()
    parser = ProcessParser(known=store.stored_digests)
    whole = ProcessParser()
    try:
        store.commit(await parser.parse(result(rss(one(1), one(2))), FEED))
        broken = rss(b"<item><title>a & b</title><link>https://scan.example/x</link></item>")
        body = broken[: -len(TAIL)] + one(1) + one(2) + TAIL
        got = await parser.parse(result(body), FEED)
        today = await whole.parse(result(body), FEED)
    finally:
        parser.close()
        whole.close()
    assert parser.fallbacks == 1 and got == today and got.bozo
