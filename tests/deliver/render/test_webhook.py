"""Webhook rendering: the versioned JSON body, its golden file and docs/webhook.md's example."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from monitor.deliver.render.webhook import webhook_body
from tests.deliver.render.golden import check_golden
from tests.fixtures.delivery.samples import alert, follow_up_alert, health_alert, injection_alert


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("webhook_aurus.json", alert),
        ("webhook_update.json", lambda: follow_up_alert("hook")),
        ("webhook_health.json", lambda: health_alert("hook")),
    ],
)
def test_webhook_body_matches_golden(name: str, make: Any) -> None:
    check_golden(name, webhook_body(make()))


# --- webhook body ------------------------------------------------------------------------------


def test_webhook_body_fields_and_raw_text() -> None:
    body = webhook_body(injection_alert("hook"))
    assert body["type"] == "alert.created"
    assert body["timestamp"] == "2026-03-01T12:00:00Z"
    data = body["data"]
    assert data["schema_version"] == 1 and data["alert_id"] == "msg_injection"
    assert data["severity"] == "high" and data["rule_ids"][0] == "ru-dprk-vehicle-transfer"
    assert data["story"]["title"] == "<!channel> Kim <@U123> <https://evil.example|Reuters>"
    assert data["story"]["feed_id"] == "nknews"
    assert data["matches"][0]["text"] == "Kim Jong Un"
    assert data["story"]["published_at"] == "2026-03-01T11:40:00Z"


def test_webhook_body_is_identical_for_the_same_alert() -> None:
    assert json.dumps(webhook_body(alert())) == json.dumps(webhook_body(alert()))


def _key_paths(node: Any, prefix: str = "") -> set[str]:
    if isinstance(node, dict):
        return {
            p for k, v in node.items() for p in {f"{prefix}{k}"} | _key_paths(v, f"{prefix}{k}.")
        }
    if isinstance(node, list) and node:
        return _key_paths(node[0], f"{prefix}[].")
    return set()


def test_docs_webhook_example_matches_the_schema() -> None:
    """docs/webhook.md's example body has exactly the fields ``webhook_body`` produces."""
    doc = (Path(__file__).parents[3] / "docs" / "webhook.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", doc, re.S).group(1))  # type: ignore[union-attr]
    assert _key_paths(example) == _key_paths(webhook_body(alert()))
    assert example["data"]["schema_version"] == webhook_body(alert())["data"]["schema_version"]
