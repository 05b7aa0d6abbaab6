"""``test-alert``: a marked test alert through the real notifiers, to loopback receivers.

The webhook receiver verifies the Standard Webhooks signature with the ``standardwebhooks``
library; the Slack receiver answers as Slack does. The CLI runs as a subprocess, so stdout
(the console alert and one answer line per destination) and stderr (logs) are checked apart,
and the state database must not even be created.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli.testalert import build_test_alert
from monitor.deliver.render.slack import HEADER_MAX_CHARS, payload_size, slack_payload
from monitor.deliver.render.webhook import webhook_body
from monitor.models import DestinationSpec, Severity
from tests.servers.webhook_receiver import (
    TEST_SECRETS,
    WebhookReceiver,
    slack_receiver,
    webhook_receiver,
)
from tests.support import run_cli, write_config

__all__ = ["slack_receiver", "webhook_receiver"]

SLACK_PATH = "/services/T00000000/B00000000/testAlertPath"


def _config(tmp_path: Path, hook: WebhookReceiver, slack: WebhookReceiver) -> Path:
    destinations: list[dict[str, Any]] = [
        {"id": "console", "type": "console", "min_severity": "critical"},
        {"id": "hook", "type": "webhook", "url": hook.url("/hooks/test"),
         "secret": TEST_SECRETS[0], "min_severity": "critical"},
        {"id": "slack", "type": "slack", "url": slack.url(SLACK_PATH), "min_severity": "low"},
    ]  # fmt: skip
    return write_config(tmp_path, feeds=[], destinations=destinations)


def test_every_destination_gets_a_marked_signed_test_and_says_what_it_answered(
    tmp_path: Path, webhook_receiver: WebhookReceiver, slack_receiver: WebhookReceiver
) -> None:
    config = _config(tmp_path, webhook_receiver, slack_receiver)

    result = run_cli("test-alert", "--config", str(config), "--severity", "medium")

    assert result.returncode == 0, result.stderr
    [hook] = webhook_receiver.requests
    assert hook.verified is True, hook.verify_error
    body = hook.json()
    assert body["type"] == "alert.test" and body["data"]["test"] is True
    assert body["data"]["severity"] == "medium"  # min_severity critical is not applied
    assert body["data"]["story"]["title"].startswith("sanctions-monitor test alert")
    assert hook.webhook_id == body["data"]["alert_id"]
    [slack] = slack_receiver.requests
    message = slack.json()
    header = message["blocks"][0]["text"]["text"]
    assert "TEST:" in header and "TEST:" in message["text"]
    lines = result.stdout.splitlines()
    assert any("TEST: sanctions-monitor test alert" in line for line in lines), result.stdout
    answers = {
        line.split(":", 1)[0]: line
        for line in lines
        if line.startswith(("console:", "hook:", "slack:"))
    }
    assert set(answers) == {"console", "hook", "slack"}, result.stdout
    assert answers["hook"].startswith("hook: ok: HTTP 200") and hook.webhook_id in answers["hook"]
    assert answers["slack"].startswith("slack: ok: HTTP 200")
    assert not any(line.startswith("{") for line in lines), "a log line on stdout"
    assert not (tmp_path / "state" / "monitor.db").exists(), "test-alert touched the state"


def test_each_run_has_a_new_webhook_id_and_one_destination_can_be_chosen(
    tmp_path: Path, webhook_receiver: WebhookReceiver, slack_receiver: WebhookReceiver
) -> None:
    config = _config(tmp_path, webhook_receiver, slack_receiver)
    for _ in range(2):
        result = run_cli("test-alert", "--destination", "hook", "--config", str(config))
        assert result.returncode == 0, result.stderr
    assert len(webhook_receiver.requests) == 2 and not slack_receiver.requests
    first, second = (r.webhook_id for r in webhook_receiver.requests)
    assert first != second and all(r.verified for r in webhook_receiver.requests)


def test_a_refusing_destination_is_reported_and_the_exit_code_says_so(
    tmp_path: Path, webhook_receiver: WebhookReceiver, slack_receiver: WebhookReceiver
) -> None:
    config = _config(tmp_path, webhook_receiver, slack_receiver)
    webhook_receiver.fail_next(1, status=500)
    result = run_cli("test-alert", "--config", str(config))
    assert result.returncode == 1
    [line] = [line for line in result.stdout.splitlines() if line.startswith("hook:")]
    assert line.startswith("hook: FAILED: HTTP 500"), line
    assert any(line.startswith("slack: ok") for line in result.stdout.splitlines())


def test_an_unknown_destination_is_a_usage_error_naming_the_known_ones(
    tmp_path: Path, webhook_receiver: WebhookReceiver, slack_receiver: WebhookReceiver
) -> None:
    config = _config(tmp_path, webhook_receiver, slack_receiver)
    result = run_cli("test-alert", "--destination", "nope", "--config", str(config))
    assert result.returncode == 2
    assert "unknown destination 'nope'" in result.stderr and "hook" in result.stderr
    assert "Traceback" not in result.stderr and "config error" not in result.stderr
    assert not webhook_receiver.requests


@pytest.mark.parametrize("severity", list(Severity))
def test_the_test_alert_renders_within_slacks_limits(severity: Severity) -> None:
    from datetime import UTC, datetime

    spec = DestinationSpec(id="slack", type="slack", url="https://hooks.slack.invalid/x")
    alert = build_test_alert(spec, severity=severity, now=datetime(2026, 12, 4, tzinfo=UTC))
    payload = slack_payload(alert)
    assert len(payload["blocks"][0]["text"]["text"]) <= HEADER_MAX_CHARS
    assert payload_size(payload) < 12_000
    assert json.loads(json.dumps(webhook_body(alert)))["data"]["test"] is True
