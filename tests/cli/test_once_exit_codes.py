"""``once`` tells cron the truth: 0 success, 1 state/runtime error, 2 config error, 3 partial run.

Real loopback feed and webhook/Slack receivers; the runtime-error case of a poll that fails on
the store goes through ``Daemon.once`` with a poller whose store write fails (no way to make a
real SQLite file unwritable for root in a test).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli.run import once_exit_code
from monitor.deliver.outcomes import DeliveryStats
from monitor.errors import StoreError
from monitor.models import FeedSpec
from monitor.service.daemon import CycleSummary, Daemon
from tests.servers.feed_server import FeedServer, feed_server, item, rss_feed
from tests.servers.webhook_receiver import (
    TEST_SECRETS,
    WebhookReceiver,
    slack_receiver,
    webhook_receiver,
)
from tests.support import run_cli, write_config
from tests.test_e2e_once import AURUS  # the seed story: a Russia-DPRK transfer

__all__ = ["feed_server", "slack_receiver", "webhook_receiver"]

TROOPS = item(
    "North Korean troops deployed to Russia's Kursk region, Seoul says",
    link="https://news.example/world/troops-kursk",
    guid="seed-troops-1",
    description="South Korea's intelligence service said thousands of DPRK soldiers were sent "
    "to fight for Russia in Kursk, in exchange for Russian oil and military technology.",
    pub_date=datetime.now(UTC) - timedelta(hours=2),
)


def _hook(receiver: WebhookReceiver) -> dict[str, Any]:
    return {"id": "hook", "type": "webhook", "url": receiver.url("/h"),
            "secret": TEST_SECRETS[0], "min_severity": "low"}  # fmt: skip


def _config(tmp_path: Path, feeds: FeedServer, destination: dict[str, Any]) -> Path:
    feed_url = feeds.set_feed("/world.xml", rss_feed([AURUS]))
    return write_config(
        tmp_path, feeds=[{"id": "world", "url": feed_url}], destinations=[destination]
    )


@pytest.mark.slow
def test_0_when_every_feed_polled_and_everything_due_was_sent(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    result = run_cli("once", config=_config(tmp_path, feed_server, _hook(webhook_receiver)))
    assert result.returncode == 0, result.stderr
    assert len(webhook_receiver.delivered()) == 1


@pytest.mark.slow
def test_3_when_a_due_alert_could_not_be_sent_and_0_once_it_was(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_next(1, status=503)
    config = _config(tmp_path, feed_server, _hook(webhook_receiver))
    first = run_cli("once", config=config)
    assert first.returncode == 3, first.stdout + first.stderr
    assert "still pending: 1" in first.stdout
    assert "1 due alert(s) not sent" in first.stdout
    second = run_cli("once", config=config)  # the retry is due again (schedule 0, 0.2, ...)
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(webhook_receiver.delivered()) == 1


@pytest.mark.slow
def test_alerts_held_by_pacing_do_not_make_a_run_partial(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    """One send per 1000 s: the second alert is held on purpose (deferred), not failed."""
    feed_url = feed_server.set_feed("/world.xml", rss_feed([AURUS, TROOPS]))
    paced = _hook(webhook_receiver) | {"rate_per_s": 0.001, "burst": 1}
    config = write_config(tmp_path, feeds=[{"id": "world", "url": feed_url}], destinations=[paced])
    result = run_cli("once", config=config)
    assert "alerts queued: 2" in result.stdout, result.stdout
    assert "sent: 1  still pending: 1" in result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(webhook_receiver.delivered()) == 1


def test_2_on_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "monitor.yaml"
    bad.write_text("defaults: {interval_s: .nan}\n", encoding="utf-8")
    result = run_cli("once", config=bad)
    assert result.returncode == 2
    assert "defaults.interval_s" in result.stderr and "finite" in result.stderr


def test_help_lists_the_exit_codes() -> None:
    result = run_cli("once", "--help")
    assert result.returncode == 0
    for line in ("0  success", "1  state or runtime error", "2  config error", "3  partial run"):
        assert line in result.stdout


class _StorelessPoller:
    """A poller whose commit fails as a full disk or a read-only store makes it fail."""

    async def poll(self, feed: FeedSpec, *, force: bool = False) -> Any:
        raise StoreError("store: database or disk is full")


class _IdleWorker:
    async def deliver_due(self) -> DeliveryStats:
        return DeliveryStats()


async def test_1_when_a_poll_failed_on_the_store() -> None:
    daemon = Daemon(
        feeds=[FeedSpec(id="world", url="https://news.example/rss", interval_s=60)],
        poller=_StorelessPoller(),  # type: ignore[arg-type]
        worker=_IdleWorker(),  # type: ignore[arg-type]
    )
    summary = await daemon.once()
    assert summary.runtime_errors == 1
    assert once_exit_code(summary) == 1


@pytest.mark.parametrize(
    ("summary", "code"),
    [
        (CycleSummary(feeds_ok=2), 0),
        (CycleSummary(feeds_ok=1, feeds_failed=1), 3),
        (CycleSummary(feeds_ok=2, deliveries_failed=1), 3),
        (CycleSummary(feeds_failed=1, runtime_errors=1), 1),
    ],
)
def test_the_exit_code_table(summary: CycleSummary, code: int) -> None:
    assert once_exit_code(summary) == code
