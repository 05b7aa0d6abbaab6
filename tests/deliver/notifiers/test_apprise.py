"""The optional Apprise destination, via Apprise's ``json://`` plugin to the loopback receiver."""

# ruff: noqa: F811 - the receiver fixtures are imported, then requested by name

from __future__ import annotations

import pytest

from monitor.deliver.render.apprise import defuse_mentions
from monitor.errors import ConfigError, RetryableDelivery
from monitor.models import DestinationSpec
from tests.fixtures.delivery.samples import alert, injection_alert
from tests.servers.webhook_receiver import WebhookReceiver, webhook_receiver  # noqa: F401

pytest.importorskip("apprise")

from monitor.deliver.notifiers.apprise import AppriseNotifier


def notifier(receiver: WebhookReceiver) -> AppriseNotifier:
    url = f"json://127.0.0.1:{receiver.port}/notify"
    return AppriseNotifier(spec=DestinationSpec(id="apprise", type="apprise", url=url))


async def test_apprise_sends_defused_plain_text(webhook_receiver: WebhookReceiver) -> None:
    await notifier(webhook_receiver).send(injection_alert("apprise"))
    [got] = webhook_receiver.requests
    body = got.json()
    assert got.path == "/notify" and body["title"].startswith("HIGH: ")
    for live in ("<!channel>", "<@U123>", "<https://evil.example|", "<!here>", "\x1b"):
        assert live not in body["message"] and live not in body["title"]
    assert "Kim Jong Un" in body["message"]


async def test_apprise_failure_is_retryable(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.fail_next(1)
    with pytest.raises(RetryableDelivery, match="apprise"):
        await notifier(webhook_receiver).send(alert("msg_x", destination_id="apprise"))


async def test_apprise_digest(webhook_receiver: WebhookReceiver) -> None:
    alerts = [alert(f"msg_{i}", destination_id="apprise") for i in range(3)]
    await notifier(webhook_receiver).send_digest(alerts, period_label="11:00–12:00 UTC")
    assert "3 alerts" in webhook_receiver.requests[0].json()["message"]


def test_unknown_apprise_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="apprise"):
        AppriseNotifier(
            spec=DestinationSpec(id="apprise", type="apprise", url="nonsense-scheme://x")
        )


def test_defuse_mentions_keeps_text_readable() -> None:
    assert defuse_mentions("@everyone <!here>") == "@\u200beveryone <\u200b!here>"
