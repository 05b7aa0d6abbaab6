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


# --- normalisation and signatures -------------------------------------------------------------


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


def test_signature_round_trips_through_bytes() -> None:
    sig = dedup.signature(make_story(load_fixture()["wire"][0]))
    again = dedup.Signature.from_bytes(sig.to_bytes(), sig.feed_id)
    assert again == sig
    assert dedup.band_keys(again) == dedup.band_keys(sig)


def test_signature_from_other_format_is_refused() -> None:
    data = bytearray(dedup.signature(story("One two three four")).to_bytes())
    data[0] = 99
    with pytest.raises(ValueError, match="format 99"):
        dedup.Signature.from_bytes(bytes(data), "feed-a")


def test_long_text_is_sketched_not_stored_whole() -> None:
    summary = " ".join(f"word{i}" for i in range(400))
    sig = dedup.signature(story("A long story about many things", summary))
    assert sig.text_size > dedup.SKETCH_SIZE
    assert len(sig.text_sketch) == dedup.SKETCH_SIZE
    assert sig.text_sketch == frozenset(sorted(sig.text_sketch)[: dedup.SKETCH_SIZE])


def test_band_keys_fit_sqlite_integers() -> None:
    keys = dedup.band_keys(dedup.signature(make_story(load_fixture()["unrelated"])))
    assert len(keys) >= dedup.TEXT_BANDS + 2
    assert all(0 <= key < 2**63 for key in keys)


# --- similarity ---------------------------------------------------------------------------------


def fixture_signatures() -> tuple[list[dedup.Signature], dedup.Signature]:
    data = load_fixture()
    copies = [dedup.signature(make_story(item)) for item in data["wire"]]
    return copies, dedup.signature(make_story(data["unrelated"]))


def test_wire_copies_match_each_other_and_share_a_key() -> None:
    copies, _ = fixture_signatures()
    for i, a in enumerate(copies):
        for b in copies[i + 1 :]:
            assert dedup.similarity(a, b) >= dedup.DEFAULT_THRESHOLD, (a.feed_id, b.feed_id)
            assert set(dedup.band_keys(a)) & set(dedup.band_keys(b)), (a.feed_id, b.feed_id)


def test_unrelated_story_sharing_names_does_not_match() -> None:
    copies, unrelated = fixture_signatures()
    for copy in copies:
        assert dedup.similarity(copy, unrelated) < 0.5


def test_series_items_of_one_feed_are_not_copies() -> None:
    first, second = (dedup.signature(make_story(item)) for item in load_fixture()["series"])
    assert dedup.title_similarity(first, second) == 0.0  # "day 263" is not "day 264"
    assert dedup.similarity(first, second) < dedup.DEFAULT_THRESHOLD


def test_same_feed_needs_the_text_not_just_the_headline() -> None:
    a = story("Idaho murders: police give an update", "Four students were killed on Nov 13.")
    b = story(
        "Idaho murders: police give an update", "The house will be demolished, the university said."
    )
    assert dedup.title_similarity(dedup.signature(a), dedup.signature(b)) == 1.0
    assert dedup.similarity(dedup.signature(a), dedup.signature(b)) < dedup.DEFAULT_THRESHOLD
    other_feed = dedup.signature(replace(b, feed_id="feed-b"))
    assert dedup.similarity(dedup.signature(a), other_feed) == 1.0


@pytest.mark.parametrize(
    ("title_a", "title_b", "low", "high"),
    [
        (
            "Former pope Benedict XVI dies aged 95",
            "Former Pope Benedict XVI dies at 95",
            0.85,
            0.86,
        ),
        (
            "Russia and China to hold joint naval drills",
            "Russia, China to hold joint naval drills",
            0.87,
            0.88,
        ),
        (
            "Seoul says North Korea fired a missile",
            "Analysis: Seoul says North Korea fired a missile",
            0.9,
            0.9,
        ),
        ("Lavrov rejects peace plan", "Lavrov rejects peace plan, Kremlin says", 0.66, 0.67),
        (
            "North Korea fires 3 missiles toward Japan",
            "North Korea fires 4 missiles toward Japan",
            0.0,
            0.0,
        ),
        ("Sanctions on oil tankers widen", "Court jails two men over arms shipment", 0.0, 0.2),
    ],
)
def test_title_similarity(title_a: str, title_b: str, low: float, high: float) -> None:
    """Word-sequence overlap; numbers must agree; a prefix/suffix counts for 5+ word titles."""
    a = dedup.signature(story(title_a, feed_id="feed-a"))
    b = dedup.signature(story(title_b, feed_id="feed-b"))
    assert low <= round(dedup.title_similarity(a, b), 2) <= high


def test_text_similarity_is_exact_for_small_sets_and_symmetric() -> None:
    a = dedup.signature(story("one two three", "four five six"))
    b = dedup.signature(story("one two three", "four five seven"))
    # bigrams: one two, two three, three|, |four, four five + (five six | five seven): 5 of 7
    assert dedup.text_similarity(a, b) == pytest.approx(5 / 7)
    assert dedup.text_similarity(b, a) == dedup.text_similarity(a, b)
    assert dedup.text_similarity(a, a) == 1.0


def test_empty_texts_never_match() -> None:
    empty = dedup.signature(story(""))
    assert dedup.similarity(empty, empty) == 0.0
    assert dedup.band_keys(empty) == []
