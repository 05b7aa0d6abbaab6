"""parse_feed on fixture feeds (tests/fixtures/feeds): formats, encodings, links, text, dates."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.detect.parse import collapse_ws, html_to_text, parse_feed, safe_link
from monitor.errors import ParseError
from monitor.models import FeedSpec, FetchResult, ParsedFeed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds"
FETCHED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parse_fixture(
    name: str, *, content_type: str | None = None, content_location: str | None = None
) -> ParsedFeed:
    body = (FIXTURES / name).read_bytes()
    result = FetchResult(
        feed_id="fx",
        url=f"https://fixture.example/{name}",
        status=200,
        body=body,
        fetched_at=FETCHED,
        content_type=content_type,
        content_location=content_location,
    )
    return parse_feed(result, FeedSpec("fx", result.url, tags=("t1",)))


@pytest.mark.parametrize(
    ("name", "version", "stories", "encoding", "first_title"),
    [
        (
            "google_news.xml",
            "rss20",
            2,
            "utf-8",
            "Putin hands Kim Jong Un a second Aurus limousine",
        ),
        ("atom_html.atom", "atom10", 2, "utf-8", "Tankers at Vostochny & the oil cap"),
        ("rss1.rdf", "rss10", 1, "utf-8", "Rail link across the Tumen River"),
        (
            "windows1251.xml",
            "rss20",
            1,
            "windows-1251",
            "Путин подарил Ким Чен Ыну автомобиль Аурус",
        ),
        ("euc_kr.xml", "rss20", 1, "euc-kr", "푸틴, 김정은에게 아우루스 선물"),
        ("recoverable_broken.xml", "rss20", 2, "utf-8", "Kim meets Putin in Vladivostok"),
        ("empty_channel.xml", "rss20", 0, "utf-8", None),
    ],
)
def test_fixture_feeds_parse(
    name: str, version: str, stories: int, encoding: str, first_title: str | None
) -> None:
    parsed = parse_fixture(name, content_type="application/xml")
    assert (parsed.version, len(parsed.stories), parsed.encoding) == (version, stories, encoding)
    if first_title is not None:
        assert parsed.stories[0].title == first_title
    for story in parsed.stories:
        assert story.feed_id == "fx" and story.fetched_at == FETCHED and story.tags == ("t1",)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("html_error_page.html", "an HTML page"), ("garbage.bin", "no feed version and no entries")],
)
def test_not_a_feed_is_a_parse_error_naming_the_feed(name: str, reason: str) -> None:
    with pytest.raises(ParseError, match=rf"not a feed .*{reason}.* in fx"):
        parse_fixture(name, content_type="text/html")


def test_html_page_served_as_xml_is_still_not_a_feed() -> None:
    with pytest.raises(ParseError, match="HTML page"):
        parse_fixture("html_error_page.html", content_type="application/rss+xml")


def test_empty_body_is_not_a_feed() -> None:
    result = FetchResult("fx", "https://x.example/", 200, b"", FETCHED)
    with pytest.raises(ParseError, match="empty body"):
        parse_feed(result, FeedSpec("fx", result.url))


def test_undeclared_legacy_korean_encoding_is_detected() -> None:
    # EUC-KR with no declaration: without chardet feedparser falls back to windows-1252 mojibake.
    parsed = parse_fixture("euc_kr_undeclared.xml")
    assert parsed.encoding is not None and parsed.encoding.lower() in ("cp949", "euc-kr")
    assert parsed.stories[0].title == "러시아와 북한, 두만강 철도 연결 공사 시작"


def test_google_news_outlet_comes_from_source_and_leaves_the_title() -> None:
    first, second = parse_fixture("google_news.xml").stories
    assert first.outlet == "Example Wire" and second.outlet == "Korea Daily Example"
    assert second.title == "Seoul says car gift breaches UN ban on vehicles"
    assert first.url == "https://news.google.com/rss/articles/CBMiExampleOne?oc=5"
    assert first.guid == "CBMiExampleOne" and not first.guid_is_permalink


def test_ttl_minutes_become_seconds_and_nonsense_is_ignored() -> None:
    assert parse_fixture("google_news.xml").ttl_s == 15 * 60
    assert parse_fixture("empty_channel.xml").ttl_s is None


def test_published_times_are_utc() -> None:
    google = parse_fixture("google_news.xml").stories
    assert google[1].published_at == datetime(2026, 2, 28, 22, 10, tzinfo=UTC)  # +0900 source
    atom = parse_fixture("atom_html.atom").stories[0]
    assert atom.published_at == datetime(2026, 2, 28, 4, 30, tzinfo=UTC)  # -05:00 source
    assert atom.published_at.tzinfo is UTC


def test_outlet_falls_back_to_the_feed_title() -> None:
    story = parse_fixture("windows1251.xml").stories[0]
    assert story.outlet == "Новости Example"
    assert story.summary == "КНДР получила автомобиль в нарушение санкций ООН."


def test_atom_html_is_reduced_to_plain_text_and_script_dropped() -> None:
    parsed = parse_fixture("atom_html.atom")
    first, second = parsed.stories
    assert parsed.title == "Analysis & Commentary"
    assert first.summary == "Satellite images show three tankers."
    assert first.content.startswith("Satellite images show three tankers loading at Vostochny. ")
    assert "<" not in first.content and "alert" not in first.summary
    assert first.url == "https://analysis.example/posts/7.html"  # xml:base resolution
    assert second.url is None and second.guid == "urn:uuid:entry-2"
    assert second.summary == "Plain < text & more"  # plain text stays as written


def test_hostile_links_are_dropped_or_made_absolute() -> None:
    stories = {s.guid: s for s in parse_fixture("hostile_links.xml").stories}
    assert stories["h1"].url is None  # javascript:
    assert stories["h2"].url is None  # data:
    assert stories["h3"].url == "https://fixture.example/news/3"
    assert stories["h4"].url == "https://cdn.hostile.example/4"
    assert len(stories) == 5  # the item with no title, text or link is skipped


def test_guids_are_kept_opaque_not_resolved_against_the_url() -> None:
    story = parse_fixture("recoverable_broken.xml").stories[0]
    assert story.guid == "broken-1"


def test_content_location_is_the_base_for_relative_links() -> None:
    parsed = parse_fixture("hostile_links.xml", content_location="https://moved.example/feed/")
    by_guid = {s.guid: s.url for s in parsed.stories}
    assert by_guid["h3"] == "https://moved.example/news/3"  # GUID "h3" itself stays as written


def test_markup_in_titles_stays_as_text_for_output_escaping() -> None:
    # Slack control sequences arrive as text; render escapes them at output, not parse.
    story = {s.guid: s for s in parse_fixture("hostile_links.xml").stories}["h5"]
    assert story.title == "<!channel> <@U123> <https://evil.example|click>"
    assert story.summary == "Body & soul"


def test_recoverable_xml_reports_bozo_but_keeps_items() -> None:
    parsed = parse_fixture("recoverable_broken.xml")
    assert parsed.bozo is not None and "not well-formed" in parsed.bozo


def test_a_body_that_looks_like_a_path_is_never_opened() -> None:
    result = FetchResult(
        "fx", "https://x.example/", 200, str(FIXTURES / "rss1.rdf").encode(), FETCHED
    )
    with pytest.raises(ParseError):
        parse_feed(result, FeedSpec("fx", result.url))


# --- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One Two"),
        ("a<br>b<br/>c", "a b c"),
        ("Tom &amp; Jerry&nbsp;&#8212; &lt;b&gt;", "Tom & Jerry — <b>"),
        ("<script>x()</script><style>p{}</style>kept", "kept"),
        ("<b>bold</b>face", "boldface"),
        ("no markup   at\n all", "no markup at all"),
        ("<p>unclosed <a href='x'>link", "unclosed link"),
        ('<a title="a > b" href="/x">quoted</a> attr', "quoted attr"),
        ("x<!-- <p>hidden</p> -->y", "x y"),
        ("<![CDATA[inside]]>", "inside"),
        ("a < b and c > d", "a < b and c > d"),
        ("<P>Upper<BR>Case</P>", "Upper Case"),
        ("<!DOCTYPE html><?xml version='1.0'?>text", "text"),
        ("line<img src=x onerror=alert(1)>after", "line after"),
        ("<SCRIPT type='text/javascript'>var a = '<p>';</SCRIPT>ok", "ok"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        ("https://a.example/x", None, "https://a.example/x"),
        ("HTTP://A.example/x", None, "HTTP://A.example/x"),
        ("javascript:alert(1)", "https://b.example/", None),
        (" JavaScript:alert(1)", None, None),
        ("vbscript:x", None, None),
        ("mailto:a@b.example", None, None),
        ("/rel", "https://b.example/feed", "https://b.example/rel"),
        ("/rel", None, None),
        ("http://", None, None),
        ("http://[bad", None, None),
        (None, None, None),
    ],
)
def test_safe_link(link: str | None, base: str | None, expected: str | None) -> None:
    assert safe_link(link, base=base) == expected


@pytest.mark.timeout(10)
def test_a_tag_cut_off_mid_attributes_stays_text() -> None:
    # A summary truncated inside a tag: before possessive quantifiers this backtracked
    # exponentially (hours at 40 words; the timeout turns that into a failure, not a hang).
    html = "<p>Kept</p> <a " + "href x " * 40
    assert html_to_text(html) == "Kept <a " + " ".join(["href x"] * 40)


def test_collapse_ws_handles_nbsp_and_newlines() -> None:
    assert collapse_ws("\u00a0a \n\t b\u00a0") == "a b"


def test_stream_input_is_what_feedparser_receives(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    import feedparser

    real = feedparser.parse

    def spy(source: object, **kwargs: object) -> object:
        seen.append(source)
        return real(source, **kwargs)

    monkeypatch.setattr(feedparser, "parse", spy)
    parse_fixture("rss1.rdf")
    assert isinstance(seen[0], io.BytesIO)
