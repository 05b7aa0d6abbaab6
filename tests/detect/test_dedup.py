"""Story identity and near-duplicate signatures (monitor.detect.dedup): tables and small stories."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.detect import dedup
from monitor.models import Story

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dedup"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def load_fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "wire.json").read_text(encoding="utf-8"))
    return data


def make_story(item: dict[str, Any]) -> Story:
    return Story(
        feed_id=item["feed_id"],
        title=item["title"],
        url=item.get("url"),
        fetched_at=NOW,
        guid=item.get("guid"),
        guid_is_permalink=item.get("guid_is_permalink", False),
        summary=item.get("summary", ""),
        outlet=item.get("outlet"),
    )


def story(
    title: str, summary: str = "", *, feed_id: str = "feed-a", url: str | None = None
) -> Story:
    return Story(feed_id=feed_id, title=title, url=url, fetched_at=NOW, summary=summary)


# --- canonical URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://example.com/a/b", "https://example.com/a/b"),
        ("HTTPS://Example.COM/a/b", "https://example.com/a/b"),
        ("http://example.com/a/b", "https://example.com/a/b"),
        ("https://www.example.com/a/b", "https://example.com/a/b"),
        ("https://example.com:443/a/b", "https://example.com/a/b"),
        ("http://example.com:80/a/b", "https://example.com/a/b"),
        ("https://example.com:8443/a/b", "https://example.com:8443/a/b"),
        ("https://example.com/a/b/", "https://example.com/a/b"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a/b#section-2", "https://example.com/a/b"),
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&utm_campaign=x",
            "https://example.com/a",
        ),
        ("https://example.com/a?fbclid=IwAR0x&gclid=Cj0K", "https://example.com/a"),
        ("https://example.com/a?mc_cid=12&mc_eid=34", "https://example.com/a"),
        ("https://example.com/a?at_medium=RSS&at_campaign=KARANGA", "https://example.com/a"),
        ("https://example.com/a?ref=rss&ocid=feed", "https://example.com/a"),
        (
            "https://example.com/a?ns_mchannel=rss&ns_campaign=1490&ito=1490",
            "https://example.com/a",
        ),
        ("http://example.com/a/ar-AA1?li=BBnbcA1&srcref=rss", "https://example.com/a/ar-AA1"),
        (
            "https://example.com/story?id=94690943&utm_source=x",
            "https://example.com/story?id=94690943",
        ),
        ("https://example.com/s?b=2&a=1", "https://example.com/s?a=1&b=2"),
        ("https://amp.example.com/world/2026/story", "https://example.com/world/2026/story"),
        ("https://example.com/amp/world/story", "https://example.com/world/story"),
        ("https://example.com/world/story/amp", "https://example.com/world/story"),
        ("https://example.com/world/story.amp", "https://example.com/world/story"),
        ("https://example.com/world/story.amp.html", "https://example.com/world/story.html"),
        ("https://example.com/world/story?outputType=amp", "https://example.com/world/story"),
        ("https://m.example.co.uk/news/1", "https://example.co.uk/news/1"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("http://[::1]:8080/feed/", "https://[::1]:8080/feed"),
        ("not a url", "not a url"),
        ("tag:example.com,2026:item-7", "tag:example.com,2026:item-7"),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert dedup.canonical_url(raw) == expected


def test_canonical_url_is_idempotent() -> None:
    url = "http://WWW.Example.com:80/amp/a/b/?utm_source=x&z=1&a=2#top"
    once = dedup.canonical_url(url)
    assert once == "https://example.com/a/b?a=2&z=1"
    assert dedup.canonical_url(once) == once


# --- story keys and updates -------------------------------------------------------------------


def test_key_prefers_permalink_guid_over_link() -> None:
    item = story("Title one two three", url="https://example.com/link?utm_source=rss")
    item = replace(item, guid="https://example.com/permalink/", guid_is_permalink=True)
    assert dedup.story_key(item) == "url:https://example.com/permalink"


def test_key_ignores_opaque_guid_and_canonicalises_link() -> None:
    first = replace(story("T", url="https://example.com/a?utm_source=rss"), guid="guid-1")
    second = replace(story("T", url="http://www.example.com/a/#x"), guid="guid-2")
    assert dedup.story_key(first) == dedup.story_key(second) == "url:https://example.com/a"


def test_key_without_link_hashes_feed_and_normalised_title() -> None:
    base = story("Russia ships oil to Rajin", url=None)
    same = story("  RUSSIA ships oil to Rajin!  ", url=None)
    other_feed = story("Russia ships oil to Rajin", url=None, feed_id="feed-b")
    other_title = story("Russia ships coal to Rajin", url=None)
    assert dedup.story_key(base).startswith("title:")
    assert dedup.story_key(base) == dedup.story_key(same)
    assert dedup.story_key(base) != dedup.story_key(other_feed)
    assert dedup.story_key(base) != dedup.story_key(other_title)


def test_key_falls_back_to_link_when_permalink_guid_is_not_a_url() -> None:
    item = replace(story("T", url="https://example.com/x"), guid="12345", guid_is_permalink=True)
    assert dedup.story_key(item) == "url:https://example.com/x"


def test_content_hash_sees_edits_not_whitespace() -> None:
    base = story("Tanker seen at Rajin", "Images show a tanker at Rajin.")
    assert dedup.content_hash(base) == dedup.content_hash(
        replace(base, title="Tanker  seen at Rajin ", summary="Images show a tanker at Rajin. ")
    )
    assert dedup.content_hash(base) != dedup.content_hash(
        replace(base, title="Tanker seen at Nampo")
    )
    assert dedup.content_hash(base) != dedup.content_hash(replace(base, summary="Images show two."))


# --- normalisation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Pelé’s <b>record</b>", ["peles", "record"]),
        ("U.S. sanctions #northkorea #russia", ["us", "sanctions"]),
        ("Kim Jong-un, 40", ["kim", "jong", "un", "40"]),
        ("ＦＵＬＬ width", ["full", "width"]),
    ],
)
def test_normalise_words(text: str, words: list[str]) -> None:
    assert dedup.normalise_words(text) == words
