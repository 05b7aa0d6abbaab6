"""Rendering: Slack Block Kit (golden files, slack_sdk validation, injection, limits),
webhook bodies and console text.

Golden files live in tests/golden/render/; regenerate them after an intended change with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from monitor.deliver.render import (
    console_digest_text,
    console_text,
    escape_mrkdwn,
    payload_size,
    safe_url,
    slack_digest_payloads,
    slack_payload,
    slack_plain_payload,
    webhook_body,
)
from monitor.models import Severity
from tests.fixtures.delivery.samples import NOW, alert, injection_alert, span, story

GOLDEN = Path(__file__).parent.parent / "golden" / "render"


def check_golden(name: str, rendered: Any) -> None:
    path = GOLDEN / name
    text = (
        json.dumps(rendered, ensure_ascii=False, indent=2) + "\n"
        if not isinstance(rendered, str)
        else rendered
    )
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} differs from its golden file"


def validate_blocks(payload: dict[str, Any]) -> None:
    """Every block parses as a slack_sdk model, passes its validators and round-trips."""
    assert len(payload.get("blocks", [])) <= 50
    for raw in payload.get("blocks", []):
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        assert block.to_dict() == raw


def mrkdwn_strings(payload: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn: the top-level text and mrkdwn text objects."""
    found = [payload["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload.get("blocks", []))
    return found


def control_sequences(text: str) -> list[str]:
    """The ``<...>`` sequences Slack would act on (mentions, channel links, links)."""
    return re.findall(r"<([^<>]*)>", text)


# --- golden files, validated by slack_sdk -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("slack_aurus.json", lambda: slack_payload(alert())),
        ("slack_aurus_plain.json", lambda: slack_plain_payload(alert())),
        ("slack_injection.json", lambda: slack_payload(injection_alert())),
        ("webhook_aurus.json", lambda: webhook_body(alert())),
        ("console_aurus.txt", lambda: console_text(alert(), color=False)),
        ("console_aurus_color.txt", lambda: console_text(alert(), color=True)),
    ],
)
def test_rendering_matches_golden(name: str, render: Any) -> None:
    rendered = render()
    check_golden(name, rendered)
    if name.startswith("slack"):
        validate_blocks(rendered)


def test_slack_layout_has_header_linked_title_excerpt_and_context() -> None:
    payload = slack_payload(alert())
    header, section, context = payload["blocks"]
    assert header["text"]["text"].startswith("🟠 HIGH: Putin gives Kim Jong Un")
    assert section["text"]["text"].startswith("*<https://www.nknews.org/2026/03/aurus/|Putin gives")
    assert "*Kim Jong Un*" in section["text"]["text"] and "*vehicles*" in section["text"]["text"]
    items = [e["text"] for e in context["elements"]]
    assert "*NK News*" in items and "2026-03-01 11:40 UTC" in items
    assert "rule `ru-dprk-vehicle-transfer`" in items and "score 4.2" in items
    assert payload["unfurl_links"] is False
    assert all(obj["verbatim"] for obj in [section["text"], *context["elements"]])


# --- injection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("render", [slack_payload, slack_plain_payload])
def test_injection_reaches_slack_as_text(render: Any) -> None:
    payload = render(injection_alert())
    validate_blocks(payload)
    for text in mrkdwn_strings(payload):
        for sequence in control_sequences(text):
            # The only live sequence is our own link to the story, with its URL made safe.
            target = sequence.split("|", 1)[0]
            assert target == "https://example.org/a?x=1&amp;y=%3C2%3E%7Cz", sequence
        for raw in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@U999>", "<#C0123"):
            assert raw not in text
    joined = " ".join(mrkdwn_strings(payload))
    assert "&lt;!channel&gt; Kim &lt;@U123&gt; &lt;https://evil.example|Reuters&gt;" in joined
    assert "\x1b" not in json.dumps(payload) and "\u202e" not in json.dumps(payload)


def test_injection_in_header_stays_plain_text() -> None:
    """The header is a plain_text object: Slack shows it literally and parses no mentions."""
    header = slack_payload(injection_alert())["blocks"][0]
    assert header["text"]["type"] == "plain_text"
    assert "<!channel>" in header["text"]["text"]  # shown as typed, not escaped twice


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/x?a=1&b=2", "https://example.org/x?a=1&b=2"),
        ("https://example.org/x|y>z<", "https://example.org/x%7Cy%3Ez%3C"),
        ("javascript:alert(1)", None),
        ("data:text/html,hi", None),
        ("ftp://example.org/", None),
        ("https://example.org/" + "a" * 2000, None),
        (None, None),
        ("", None),
    ],
)
def test_only_http_urls_are_linked(url: str | None, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_story_without_safe_url_gets_no_link() -> None:
    a = alert(s=story(url="javascript:alert(1)"))
    section = slack_payload(a)["blocks"][1]["text"]["text"]
    assert control_sequences(section) == []
    assert "javascript" not in section


def test_escape_mrkdwn() -> None:
    assert escape_mrkdwn("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"


# --- limits ------------------------------------------------------------------------------------


def test_huge_hostile_fields_stay_within_slack_limits() -> None:
    s = story(
        title="&<>" * 400,
        summary="<@U1> & " * 2000,
        outlet="&" * 500,
        url="https://example.org/?" + "&" * 900,
    )
    for render in (slack_payload, slack_plain_payload):
        payload = render(alert(s=s, hits=()))
        validate_blocks(payload)
        assert all(len(t) <= 3000 for t in mrkdwn_strings(payload))
        assert payload_size(payload) < 12_000


# --- digests -----------------------------------------------------------------------------------


def digest_alerts(count: int) -> list[Any]:
    return [
        alert(
            f"msg_{i}",
            severity=Severity.LOW if i % 3 else Severity.MEDIUM,
            s=story(
                f"s{i}",
                title=f"Story {i}: " + "long words " * 20,
                url=f"https://example.org/{i}?a=1&b=2",
            ),
            created_at=NOW + timedelta(seconds=i),
        )
        for i in range(count)
    ]


def test_digest_small_fits_one_message_golden() -> None:
    payloads = slack_digest_payloads(digest_alerts(3), period_label="2026-03-01 11:00–12:00 UTC")
    assert len(payloads) == 1
    check_golden("slack_digest_3.json", payloads[0])
    validate_blocks(payloads[0])


@pytest.mark.parametrize("count", [1, 40, 200, 600])
def test_digest_splits_to_respect_limits_and_keeps_every_alert(count: int) -> None:
    alerts = digest_alerts(count)
    payloads = slack_digest_payloads(alerts, period_label="11:00–12:00 UTC")
    for payload in payloads:
        validate_blocks(payload)
        assert payload_size(payload) < 12_000
        assert len(payload["blocks"]) <= 50
    text = "".join(json.dumps(p) for p in payloads)
    assert all(f"https://example.org/{i}?a=1&amp;b=2|" in text for i in range(count))
    if count >= 200:
        assert len(payloads) > 1
        assert payloads[0]["blocks"][0]["text"]["text"].endswith(f"(part 1/{len(payloads)})")


def test_digest_of_nothing_is_no_message() -> None:
    assert slack_digest_payloads([], period_label="x") == []


def test_digest_lists_most_severe_first() -> None:
    payload = slack_digest_payloads(digest_alerts(3), period_label="p")[0]
    section = payload["blocks"][1]["text"]["text"]
    assert section.index("MEDIUM") < section.index("LOW")


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


# --- console -----------------------------------------------------------------------------------


def test_console_strips_terminal_control_sequences() -> None:
    text = console_text(injection_alert(), color=False)
    assert "\x1b" not in text and "\u202e" not in text
    assert "*Kim Jong Un*" in text


def test_console_color_only_when_asked() -> None:
    assert "\x1b[" in console_text(alert(), color=True)
    assert "\x1b[" not in console_text(alert(), color=False)


def test_console_digest_lists_each_alert() -> None:
    text = console_digest_text(digest_alerts(4), period_label="11:00–12:00 UTC", color=False)
    assert text.count("\n") == 5 and "4 alerts" in text


def test_excerpt_windows_long_summaries_around_the_first_match() -> None:
    summary = "filler " * 200 + "Kim Jong Un received the Aurus Senat car." + " tail" * 200
    a = alert(s=story(summary=summary), hits=(span(summary, "Kim Jong Un"),))
    section = slack_payload(a)["blocks"][1]["text"]["text"]
    assert "*Kim Jong Un*" in section and section.count("…") == 2


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
    doc = (Path(__file__).parents[2] / "docs" / "webhook.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", doc, re.S).group(1))  # type: ignore[union-attr]
    assert _key_paths(example) == _key_paths(webhook_body(alert()))
    assert example["data"]["schema_version"] == webhook_body(alert())["data"]["schema_version"]
