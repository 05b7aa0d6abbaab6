"""``once --dry-run``: the real pipeline judges every feed, prints what would alert, and the
state, the outbox and the destinations are untouched (a real ``once`` afterwards alerts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.state.sqlite import SqliteStore
from tests.servers.feed_server import FeedServer, feed_server, rss_feed
from tests.servers.webhook_receiver import TEST_SECRETS, WebhookReceiver, webhook_receiver
from tests.support import run_cli, write_config
from tests.test_e2e_once import AURUS  # the seed story: a Russia-DPRK transfer

__all__ = ["feed_server", "webhook_receiver"]

pytestmark = pytest.mark.slow


def test_dry_run_prints_what_would_alert_and_changes_nothing(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    url = feed_server.set_feed("/dry.xml", rss_feed([AURUS]), etag='"d1"')
    config = write_config(
        tmp_path,
        feeds=[{"id": "dry", "url": url}],
        destinations=[{"id": "hook", "type": "webhook", "url": webhook_receiver.url("/dry"),
                       "secret": TEST_SECRETS[0], "min_severity": "low"}],
    )  # fmt: skip
    state = tmp_path / "state" / "monitor.db"
    SqliteStore(state).close()  # an existing state: the dry run must leave it as it was

    dry = run_cli("once", "--dry-run", "--config", str(config))

    assert dry.returncode == 0, dry.stderr
    [would] = [line for line in dry.stdout.splitlines() if line.startswith("would alert")]
    assert would.startswith("would alert hook: alert.created") and "Aurus" in would
    assert "dry run: feeds ok: 1  failed: 0  stories new: 1  would alert: 1" in dry.stdout
    assert feed_server.requests_for("/dry.xml"), "the dry run did not fetch the feed"
    assert not webhook_receiver.requests, "the dry run sent an alert"
    store = SqliteStore(state)
    try:
        assert store.outbox(limit=10) == [] and store.story_count() == 0
    finally:
        store.close()

    real = run_cli("once", "--config", str(config))
    assert real.returncode == 0, real.stderr
    assert "alerts queued: 1" in real.stdout and len(webhook_receiver.requests) == 1
