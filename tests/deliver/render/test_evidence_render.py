"""The evidence of an alert judged on its article, in every medium: golden files and limits.

The webhook carries ``data.evidence`` (text SHA-256, fetch time, whether the article was
fetched, every quoted sentence with its field); Slack and the console show the article's quoted
sentence, escaped for Slack, instead of an excerpt of the empty summary.
"""

from __future__ import annotations

from dataclasses import replace

from monitor.deliver.render.console import console_text
from monitor.deliver.render.slack import SECTION_MAX_CHARS, slack_payload, slack_plain_payload
from monitor.deliver.render.webhook import webhook_body
from monitor.models import Quote
from tests.deliver.render.golden import check_golden, validate_blocks
from tests.fixtures.delivery.samples import ARTICLE_QUOTE, alert, article_alert


def test_article_alert_matches_golden_in_every_medium() -> None:
    check_golden("webhook_article.json", webhook_body(article_alert()))
    payload = slack_payload(article_alert("slack"))
    validate_blocks(payload)
    check_golden("slack_article.json", payload)
    check_golden("console_article.txt", console_text(article_alert("console"), color=False))


def test_the_webhook_evidence_names_the_fields_and_is_null_without_a_snapshot() -> None:
    evidence = webhook_body(article_alert())["data"]["evidence"]
    assert evidence == {
        "text_sha256": "5" * 64,
        "fetched_at": "2026-03-01T11:59:58Z",
        "article_fetched": True,
        "quotes": [
            {"field": "title", "text": "North Korea and Russia deepen ties"},
            {"field": "article", "text": ARTICLE_QUOTE},
        ],
    }
    assert webhook_body(replace(alert(), evidence=None))["data"]["evidence"] is None
    plain = webhook_body(alert())["data"]["evidence"]
    assert plain["article_fetched"] is False and plain["quotes"][0]["field"] == "summary"


def test_slack_and_console_show_the_article_sentence_not_an_article_excerpt() -> None:
    section = slack_payload(article_alert("slack"))["blocks"][1]["text"]["text"]
    assert f"> _article:_ {ARTICLE_QUOTE}" in section
    assert "Officials from both countries" not in section  # no excerpt of the article's start
    assert ARTICLE_QUOTE in slack_plain_payload(article_alert("slack"))["text"]
    text = console_text(article_alert("console"), color=False)
    assert f"  article: “{ARTICLE_QUOTE}”" in text


def test_a_hostile_quote_is_escaped_and_clipped_within_slack_limits() -> None:
    hostile = "<!channel> & <https://evil.example|Reuters> " * 40
    a = article_alert("slack", quote=hostile)
    a = replace(a, evidence=replace(a.evidence, quotes=(Quote("content", hostile),) * 3))  # type: ignore[arg-type]
    payload = slack_payload(a)
    validate_blocks(payload)
    section = payload["blocks"][1]["text"]["text"]
    assert len(section) <= SECTION_MAX_CHARS
    assert "<!channel>" not in section and "&lt;!channel&gt;" in section
    assert "\x1b" not in console_text(replace(a, destination_id="console"), color=False)
