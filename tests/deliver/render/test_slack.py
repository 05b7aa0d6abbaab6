"""Slack rendering: Block Kit golden files (validated by slack_sdk), injection, limits, digests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitor.deliver.render.slack import (
    escape_mrkdwn,
    payload_size,
    safe_url,
    slack_digest_payloads,
    slack_payload,
    slack_plain_payload,
)
from tests.deliver.render.golden import (
    check_golden,
    control_sequences,
    mrkdwn_strings,
    validate_blocks,
)
from tests.fixtures.delivery.samples import (
    alert,
    digest_alerts,
    follow_up_alert,
    health_alert,
    injection_alert,
    span,
    story,
)

# --- golden files, validated by slack_sdk -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("slack_aurus.json", lambda: slack_payload(alert())),
        ("slack_aurus_plain.json", lambda: slack_plain_payload(alert())),
        ("slack_injection.json", lambda: slack_payload(injection_alert())),
        ("slack_update_threaded.json", lambda: slack_payload(follow_up_alert())),
        ("slack_update_alone.json", lambda: slack_payload(follow_up_alert(thread_ts=None))),
        ("slack_health.json", lambda: slack_payload(health_alert())),
    ],
)
def test_rendering_matches_golden(name: str, render: Any) -> None:
    rendered = render()
    check_golden(name, rendered)
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


def test_excerpt_windows_long_summaries_around_the_first_match() -> None:
    summary = "filler " * 200 + "Kim Jong Un received the Aurus Senat car." + " tail" * 200
    a = alert(s=story(summary=summary), hits=(span(summary, "Kim Jong Un"),))
    section = slack_payload(a)["blocks"][1]["text"]["text"]
    assert "*Kim Jong Un*" in section and section.count("…") == 2
