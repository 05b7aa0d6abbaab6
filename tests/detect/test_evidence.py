"""Evidence (pure): thin and candidate tests, quoted sentences with their field, snapshots."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from monitor.detect.evidence import (
    attach_evidence,
    is_candidate,
    is_partial_match,
    is_thin,
    judged_text,
    quotes_for,
    sentence_bounds,
    snapshot,
    with_article,
)
from monitor.models import Alert, Article, Assessment, Hit, Quote, RuleMatch, Severity, Story
from monitor.service.config import BUNDLED_CONFIG, load_config

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ARTICLE_TEXT = (
    "Leaders met in Vladivostok on Tuesday.\n"
    "A cargo ship delivered artillery shells from North Korea to Russia last month. "
    "Officials declined to comment.\n"
    "The weather was fine."
)


def story(**kwargs: object) -> Story:
    fields: dict[str, object] = {
        "feed_id": "wire",
        "title": "Russia and North Korea: a new shipment",
        "url": "https://news.example/a",
        "fetched_at": NOW,
        "key": "k1",
        **kwargs,
    }
    return Story(**fields)  # type: ignore[arg-type]


def hit_of(s: Story, field: str, text: str, **kwargs: object) -> Hit:
    source = getattr(s, field)
    start = source.index(text)
    return Hit("term", "x", text, field, start, start + len(text), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("summary", "content", "thin"),
    [
        ("", "", True),
        ("Photo: the port of Rajin.", "", True),
        (" ".join(["word"] * 39), "", True),
        (" ".join(["word"] * 40), "", False),
        ("", " ".join(["слово"] * 40), False),  # full content in the feed: nothing to fetch
    ],
)
def test_thin_counts_words_of_summary_and_content(summary: str, content: str, thin: bool) -> None:
    assert is_thin(story(summary=summary, content=content), min_words=40) is thin


def test_a_candidate_needs_a_dprk_or_russia_entity_that_is_not_weak() -> None:
    dprk = Hit("entity", "north-korea", "North Korea", "title", 0, 11, side="dprk")
    assert is_candidate([dprk])
    assert is_candidate([dprk._replace(side="russia")])
    assert not is_candidate([dprk._replace(side="other")])
    assert not is_candidate([dprk._replace(weak=True)])
    assert not is_candidate([Hit("term", "arms", "shells", "title", 0, 6)])


def test_a_partial_match_is_a_rule_one_part_short_with_the_bundled_pack() -> None:
    pack = load_config(BUNDLED_CONFIG).pack
    near = story(title="Rosoboronexport signs an arms deal")  # Russia side + arms: no DPRK side
    assert is_partial_match(near, pack.match(near), pack)
    far = story(title="Heavy snow expected across the region")
    assert not is_partial_match(far, pack.match(far), pack)


def test_sentence_bounds_stop_at_sentence_ends_and_line_breaks() -> None:
    text = ARTICLE_TEXT
    start, end = sentence_bounds(text, text.index("artillery"))
    assert text[start:end] == (
        "A cargo ship delivered artillery shells from North Korea to Russia last month."
    )
    start, end = sentence_bounds(text, text.index("Vladivostok"))
    assert text[start:end] == "Leaders met in Vladivostok on Tuesday."


def test_quotes_are_the_matched_sentences_with_their_field_in_order() -> None:
    s = story(content=ARTICLE_TEXT)
    hits = [
        hit_of(s, "content", "Russia"),
        hit_of(s, "content", "artillery shells"),  # same sentence: one quote
        hit_of(s, "title", "North Korea"),
        hit_of(s, "content", "Vladivostok"),
    ]
    assert quotes_for(s, hits) == (
        Quote("title", "Russia and North Korea: a new shipment"),
        Quote("content", "Leaders met in Vladivostok on Tuesday."),
        Quote(
            "content",
            "A cargo ship delivered artillery shells from North Korea to Russia last month.",
        ),
    )
    assert len(quotes_for(s, hits, limit=1)) == 1


def test_a_hit_outside_its_text_is_ignored() -> None:
    s = story()
    assert quotes_for(s, [Hit("term", "x", "x", "summary", 5, 9)]) == ()


def test_the_snapshot_hashes_the_judged_text_and_keeps_the_fetch_facts() -> None:
    article = Article("https://news.example/final", 200, NOW, "ab" * 32, ARTICLE_TEXT)
    s = with_article(story(summary="Short caption."), article)
    snap = snapshot(s, [hit_of(s, "content", "artillery")], article, now=NOW, alert_keys=["m1"])
    assert snap.text == judged_text(s) == f"{s.title}\n\nShort caption.\n\n{ARTICLE_TEXT}"
    assert snap.text_sha256 == hashlib.sha256(snap.text.encode()).hexdigest()
    assert snap.article_fetched and snap.article_text == ARTICLE_TEXT
    assert (snap.final_url, snap.http_status, snap.body_sha256) == (
        "https://news.example/final",
        200,
        "ab" * 32,
    )
    assert snap.quotes[0].field == "content" and snap.alert_keys == ("m1",)

    plain = snapshot(story(), [], None, now=NOW)
    assert not plain.article_fetched and plain.body_sha256 is None and plain.text == story().title


def test_attach_evidence_gives_each_new_alert_its_ref_and_one_snapshot_per_story() -> None:
    s = story(summary="A ship delivered shells from North Korea to Russia.")
    hits = (hit_of(s, "summary", "shells"),)
    match = RuleMatch("r1", "dprk", 3.0, Severity.HIGH, hits=hits)
    assessment = Assessment(story_key=s.key, matches=(match,), hits=hits)

    def alert(key: str, event: str = "alert.created") -> Alert:
        return Alert(key, "dest", event, "r1", "dprk", Severity.HIGH, 3.0, s, hits, NOW)  # type: ignore[arg-type]

    alerts, snaps = attach_evidence(
        [alert("a1"), alert("a2"), alert("u1", "alert.updated")], [assessment], {}, now=NOW
    )
    assert len(snaps) == 1 and snaps[0].alert_keys == ("a1", "a2")
    assert alerts[0].evidence == alerts[1].evidence == snaps[0].ref
    assert alerts[2].evidence is None
    assert snaps[0].ref.quotes == (Quote("summary", s.summary),)
