"""OPML reading and writing (pure): nested folders, missing titles, bad URLs, hostile XML."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.tools.opml import OpmlError, OpmlFeed, new_feeds, read_opml, write_opml

NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My reader</title></head>
  <body>
    <outline text="Korea">
      <outline text="DPRK watchers">
        <outline type="rss" text="NK News" title="NK News" xmlUrl="https://www.nknews.org/feed/"
                 category="/Tags/analysis,en"/>
      </outline>
      <outline type="rss" text="Yonhap" xmlUrl="https://en.yna.co.kr/RSS/nk.xml"/>
    </outline>
    <outline type="rss" xmlUrl="https://untitled.example.org/rss"/>
    <outline type="rss" text="FTP feed" xmlUrl="ftp://files.example.org/feed.xml"/>
    <outline type="rss" text="Script" xmlUrl="javascript:alert(1)"/>
    <outline type="rss" text="No URL at all"/>
    <outline type="rss" text="NK News again" xmlUrl="https://www.nknews.org/feed"/>
  </body>
</opml>
"""


def test_nested_folders_become_tags_and_categories_are_read() -> None:
    result = read_opml(NESTED, source="reader.opml")
    nk, yonhap, _untitled, again = result.feeds
    assert nk == OpmlFeed(
        id="nk-news", name="NK News", url="https://www.nknews.org/feed/",
        tags=("Korea", "DPRK watchers", "analysis", "en"),
    )  # fmt: skip
    assert yonhap.tags == ("Korea",) and yonhap.name == "Yonhap"
    assert again.id == "nk-news-again"


def test_a_missing_title_falls_back_to_the_host() -> None:
    untitled = read_opml(NESTED).feeds[2]
    assert untitled.name == "untitled.example.org"
    assert untitled.id == "untitled-example-org"


def test_bad_urls_and_outlines_without_one_are_reported_with_their_place() -> None:
    problems = read_opml(NESTED, source="reader.opml").problems
    assert len(problems) == 3, problems
    assert any("ftp://files.example.org/feed.xml" in p and "FTP feed" in p for p in problems)
    assert any("javascript:alert(1)" in p for p in problems)
    assert any("No URL at all" in p and "no xmlUrl" in p for p in problems)
    assert all(p.startswith("reader.opml: outline ") for p in problems)


def test_urls_already_configured_or_repeated_are_skipped() -> None:
    feeds = read_opml(NESTED).feeds
    fresh, skipped = new_feeds(
        feeds, known_urls=["https://EN.yna.co.kr/RSS/nk.xml"], known_ids=["untitled-example-org"]
    )
    assert [f.url for f in skipped] == ["https://en.yna.co.kr/RSS/nk.xml",
                                        "https://www.nknews.org/feed"]  # fmt: skip
    assert [f.id for f in fresh] == ["nk-news", "untitled-example-org-2"]


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<opml><body><outline text="&b;" xmlUrl="https://x.example/"/></body></opml>',
        b'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "file:///etc/passwd"><opml><body/></opml>',
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        b'<opml><body><outline text="&x;" xmlUrl="https://x.example/"/></body></opml>',
    ],
)
def test_dtds_and_entities_are_refused(document: bytes) -> None:
    with pytest.raises(OpmlError, match="DOCTYPE or entity"):
        read_opml(document, source="evil.opml")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<opml><body><outline", "not well-formed"),
        (b"<rss><channel/></rss>", "not OPML"),
        (b"", "not well-formed"),
    ],
)
def test_what_is_not_opml_is_an_error_naming_the_file(document: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=message) as caught:
        read_opml(document, source="x.opml")
    assert str(caught.value).startswith("x.opml: ")


def test_write_then_read_gives_the_same_ids_names_urls_and_tags() -> None:
    feeds = [
        OpmlFeed(id="nknews", name="NK News", url="https://www.nknews.org/feed/",
                 tags=("dprk", "en")),
        OpmlFeed(id="yonhap-ko-nk", name="연합뉴스 북한 & <more>",
                 url="https://www.yna.co.kr/rss/northkorea.xml?a=1&b=2"),
    ]  # fmt: skip
    text = write_opml(feeds, title="t & t", now=datetime(2026, 12, 4, tzinfo=UTC))
    assert read_opml(text.encode("utf-8")).feeds == feeds
