"""``sanctions-monitor parse-files DIR``: every file gets a row, bad ones an error, none a crash."""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path

import pytest

from monitor.cli import feeds as feeds_cli
from tests.servers.feed_server import dotted_author_feed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in (
        "google_news.xml",
        "windows1251.xml",
        "html_error_page.html",
        "garbage.bin",
        "empty_channel.xml",
    ):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "rdf.xml.gz").write_bytes(gzip.compress((FIXTURES / "rss1.rdf").read_bytes()))
    whole = gzip.compress((FIXTURES / "google_news.xml").read_bytes())
    (tmp_path / "truncated.xml.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(bytes(30_000_000)))
    (tmp_path / "author.xml").write_bytes(dotted_author_feed(30_000))
    (tmp_path / ".hidden").write_text("ignored")
    (tmp_path / "subdir").mkdir()
    return tmp_path


def run(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    feeds_cli.register(parser.add_subparsers())
    args = parser.parse_args(["parse-files", str(folder), "--time-limit", "1", *extra])
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_file_gets_a_row_and_failures_say_why(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(folder, capsys, "--json")
    rows = {r["file"]: r for r in json.loads(out)}
    assert code == 0
    assert sorted(rows) == sorted(
        [
            "google_news.xml",
            "windows1251.xml",
            "html_error_page.html",
            "garbage.bin",
            "empty_channel.xml",
            "rdf.xml.gz",
            "truncated.xml.gz",
            "bomb.gz",
            "author.xml",
        ]
    )
    assert (rows["google_news.xml"]["format"], rows["google_news.xml"]["entries"]) == ("rss20", 2)
    assert rows["windows1251.xml"]["encoding"] == "windows-1251"
    assert (rows["rdf.xml.gz"]["format"], rows["rdf.xml.gz"]["entries"]) == ("rss10", 1)
    assert rows["empty_channel.xml"]["error"] is None and rows["empty_channel.xml"]["entries"] == 0
    assert "HTML page" in rows["html_error_page.html"]["error"]
    assert "not a feed" in rows["garbage.bin"]["error"]
    assert "corrupt gzip" in rows["truncated.xml.gz"]["error"]
    assert "inflates past" in rows["bomb.gz"]["error"]
    assert "longer than 1 s" in rows["author.xml"]["error"]


def test_table_ends_with_a_summary(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(folder, capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("FILE")
    assert lines[-1] == "9 files, 4 parsed, 5 failed"
    assert any(line.startswith("garbage.bin") and "ERROR: not a feed" in line for line in lines)


def test_not_a_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path / "missing", capsys)
    assert code == 2 and out == ""
    assert "missing is not a folder" in err
