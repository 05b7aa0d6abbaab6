"""``sanctions-monitor feeds``: the table and JSON of feed states, read from a real SQLite store."""

from __future__ import annotations

import argparse
import json
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import feeds as feeds_cli
from monitor.models import FeedSpec, FeedState, Story
from monitor.state.open import StateUrl
from monitor.state.sqlite import SqliteStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPECS = (
    FeedSpec("nknews", "https://www.nknews.org/feed/", interval_s=900.0, name="NK News"),
    FeedSpec("tass", "https://tass.com/rss/v2.xml", interval_s=600.0),
)


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "monitor.db"
    store = SqliteStore(path)
    store.save_feed_state(
        FeedState(
            "nknews",
            etag='"abc"',
            last_status=200,
            health="ok",
            items_seen=42,
            last_success_at=NOW - timedelta(minutes=5),
            last_attempt_at=NOW - timedelta(minutes=5),
            next_poll_at=NOW + timedelta(minutes=10),
        )
    )
    store.save_feed_state(
        FeedState(
            "tass",
            last_status=503,
            last_error="fetch: HTTP 503 from tass",
            consecutive_failures=4,
            health="failing",
            last_attempt_at=NOW - timedelta(minutes=1),
            next_poll_at=NOW + timedelta(hours=2),
        )
    )
    store.save_feed_state(FeedState("old-feed", health="ok"))
    stories = [
        Story(
            feed_id="nknews",
            title=f"s{i}",
            url=f"https://x.example/{i}",
            fetched_at=NOW,
            key=f"k{i}",
        )
        for i in range(14)
    ]
    store.commit_stories(stories, [], NOW - timedelta(days=1))
    store.commit_stories(
        [Story(feed_id="nknews", title="ancient", url=None, fetched_at=NOW, key="old")],
        [],
        NOW - timedelta(days=30),
    )
    store.close()
    return path


def test_rows_follow_the_config_and_flag_feeds_no_longer_configured(state_path: Path) -> None:
    rows = feeds_cli.feed_rows(SPECS, state_path, now=NOW)
    assert [r["id"] for r in rows] == ["nknews", "tass", "old-feed"]
    nk, tass, old = rows
    assert nk["health"] == "ok" and nk["items_per_day"] == 2.0  # 14 stories in the last 7 days
    assert nk["url"] == "https://www.nknews.org/feed/" and nk["configured"]
    assert tass["consecutive_failures"] == 4 and tass["last_error"] == "fetch: HTTP 503 from tass"
    assert tass["next_poll_at"] == (NOW + timedelta(hours=2)).isoformat()
    assert not old["configured"] and old["url"] is None


def test_a_missing_state_file_shows_new_feeds_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nothing" / "monitor.db"
    rows = feeds_cli.feed_rows(SPECS, path, now=NOW)
    assert [(r["id"], r["health"], r["last_success_at"]) for r in rows] == [
        ("nknews", "new", None),
        ("tass", "new", None),
    ]
    assert not path.parent.exists()


def test_table_shows_health_failures_and_relative_times(state_path: Path) -> None:
    table = feeds_cli.feeds_table(feeds_cli.feed_rows(SPECS, state_path, now=NOW), NOW)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["FEED", "NAME", "HEALTH", "STATUS"]
    nk = next(line for line in lines if line.startswith("nknews"))
    assert "NK News" in nk  # the feed's name beside its id
    assert "5m ago" in nk and "in 10m" in nk and nk.split()[-1] == "2"
    tass = next(line for line in lines if line.startswith("tass"))
    assert "failing" in tass and "503" in tass and "never" in tass and "in 2h" in tass
    assert "fetch: HTTP 503 from tass" in tass
    assert "old-feed (not in config)" in table and lines[-1] == "3 feeds"


def test_feeds_command_json(
    state_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = types.SimpleNamespace(feeds=SPECS, state_url=StateUrl("sqlite", str(state_path)))
    monkeypatch.setattr("monitor.cli.common.cli_config", lambda args: settings)
    code = feeds_cli.cmd_feeds(argparse.Namespace(config="x.yaml", json=True))
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and [d["id"] for d in data] == ["nknews", "tass", "old-feed"]
    assert data[1]["health"] == "failing"


def test_register_adds_both_commands() -> None:
    parser = argparse.ArgumentParser()
    feeds_cli.register(parser.add_subparsers())
    args = parser.parse_args(["parse-files", "some/dir", "--json"])
    assert args.func is feeds_cli.cmd_parse_files and args.dir == "some/dir" and args.json
    assert parser.parse_args(["feeds"]).func is feeds_cli.cmd_feeds


def test_rows_show_each_feeds_lease_owner_and_expiry(state_url: str) -> None:
    """On both backends: the replica that holds a feed, and until when; none for the others."""
    from monitor.state.open import open_store, parse_state_url

    store = open_store(state_url)
    try:
        later = datetime.now(UTC) + timedelta(hours=2)  # not due by the store's clock
        store.save_feed_state(FeedState("tass", next_poll_at=later))
        (lease,) = store.claim_feeds("host-a:4242", ["nknews", "tass"], limit=5, lease_s=60)
    finally:
        store.close()
    rows = {r["id"]: r for r in feeds_cli.feed_rows(SPECS, parse_state_url(state_url), now=NOW)}
    assert rows["nknews"]["lease_owner"] == "host-a:4242"
    assert rows["nknews"]["lease_until"] == lease.until.isoformat()
    assert rows["tass"]["lease_owner"] is None and rows["tass"]["lease_until"] is None
