"""``feeds export-opml`` and ``feeds import-opml``: the round trip, skips and reports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor.cli import main
from tests.support import write_config

FEEDS = [
    {"id": "nknews", "name": "NK News", "url": "https://www.nknews.org/feed/",
     "tags": ["dprk", "en"]},
    {"id": "yonhap-ko-nk", "name": "연합뉴스 북한", "url": "https://www.yna.co.kr/rss/northkorea.xml"},
    {"id": "tass", "name": "TASS", "url": "https://tass.com/rss/v2.xml", "tags": ["russia"]},
]  # fmt: skip


def test_export_then_import_into_a_config_without_feeds_gives_the_same_feeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = write_config(tmp_path, feeds=FEEDS, destinations=[], name="full.yaml")
    empty = write_config(tmp_path, feeds=[], destinations=[], name="empty.yaml")
    assert main(["feeds", "export-opml", "--config", str(full)]) == 0
    exported = capsys.readouterr()
    assert exported.out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    opml = tmp_path / "feeds.opml"
    opml.write_text(exported.out, encoding="utf-8")

    assert main(["feeds", "import-opml", str(opml), "--config", str(empty)]) == 0
    imported = capsys.readouterr()
    entries = yaml.safe_load(imported.out)
    assert entries == FEEDS
    assert "3 new feed(s)" in imported.err


def test_import_skips_configured_and_repeated_urls_and_reports_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, feeds=FEEDS[:1], destinations=[])
    opml = tmp_path / "reader.opml"
    opml.write_text(
        """<?xml version="1.0"?><opml version="2.0"><head/><body>
        <outline text="Folder"><outline text="NK News" xmlUrl="https://WWW.nknews.org/feed"/>
        <outline text="38 North" xmlUrl="https://www.38north.org/feed/"/></outline>
        <outline text="38 North copy" xmlUrl="https://www.38north.org/feed/"/>
        <outline text="Broken" xmlUrl="not a url"/></body></opml>""",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "feeds", "import-opml", str(opml)]) == 0
    out = capsys.readouterr()
    assert yaml.safe_load(out.out) == [
        {"id": "38-north", "name": "38 North", "url": "https://www.38north.org/feed/",
         "tags": ["Folder"]},
    ]  # fmt: skip
    assert "https://WWW.nknews.org/feed is already configured" in out.err
    assert "38north.org/feed/ is already configured or repeated" in out.err
    assert "bad feed URL 'not a url'" in out.err and "Broken" in out.err


def test_a_hostile_or_missing_file_is_a_clear_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, feeds=[], destinations=[])
    evil = tmp_path / "evil.opml"
    evil.write_bytes(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><opml><body/></opml>')
    assert main(["feeds", "import-opml", str(evil), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "evil.opml" in err and "DOCTYPE" in err and "config error" not in err
    assert main(["feeds", "import-opml", str(tmp_path / "none.opml"), "--config", str(config)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_feeds_alone_still_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, feeds=FEEDS, destinations=[])
    assert main(["feeds", "--config", str(config)]) == 0
    assert "3 feeds" in capsys.readouterr().out
