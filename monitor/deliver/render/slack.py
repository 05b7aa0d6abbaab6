"""Slack Block Kit messages: an alert, its plain-text fallback, and digests.

Pure core. ``&``, ``<`` and ``>`` are escaped in every mrkdwn string, the top-level ``text``
included, so Slack's control sequences (``<!channel>``, ``<@U123>``, disguised links) reach the
channel as text; mrkdwn objects are ``verbatim`` (no auto-linking of bare URLs or names); our
own link is built only from an http(s) URL with the characters that end a Slack link
percent-encoded. Limits (header 150, section 3000, 50 blocks, message well under 12K) are
respected by clipping the plain text before escaping.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from monitor.deliver.render.text import (
    EXCERPT_MAX_CHARS,
    article_quotes,
    clean,
    clip,
    count_alerts,
    display_url,
    entity_names,
    excerpt,
    most_severe_first,
    outlet_of,
    story_time,
    title_of,
)
from monitor.models import Alert, Severity

HEADER_MAX_CHARS = 150
SECTION_MAX_CHARS = 3000
MESSAGE_MAX_BLOCKS = 50
# Slack truncates and sometimes rejects messages near 12K characters; stay well below.
MESSAGE_BUDGET_CHARS = 10_000
URL_MAX_CHARS = 1000
LINK_TARGET_MAX_CHARS = 1200
DIGEST_TITLE_MAX_CHARS = 150
DIGEST_SECTION_CHARS = 2800
DIGEST_MAX_BLOCKS = 45

SEVERITY_EMOJI = {
    Severity.LOW: "⚪",
    Severity.MEDIUM: "🟡",
    Severity.HIGH: "🟠",
    Severity.CRITICAL: "🔴",
}


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences (its documented rule)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_url(url: str | None) -> str | None:
    """An http(s) URL usable inside ``<url|label>``, or None (other schemes are never linked)."""
    if not url:
        return None
    url = display_url(url)  # cleaned, host in punycode: never percent-encoded look-alikes
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("http", "https") or len(url) > URL_MAX_CHARS or "://" not in url:
        return None
    # ``|`` and ``>`` would end the link early and ``<`` would open another one: percent-encode
    # them (and spaces), keeping every other character as the feed gave it.
    return quote(url, safe="".join(chr(c) for c in range(33, 127) if chr(c) not in '<>|"`'))


def slack_link(url: str | None, label: str) -> str:
    """A mrkdwn link whose label is escaped; plain escaped label when the URL is unusable."""
    target = escape_mrkdwn(safe_url(url) or "")
    text = escape_mrkdwn(label) or "link"
    return f"<{target}|{text}>" if target and len(target) <= LINK_TARGET_MAX_CHARS else text


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _slack_excerpt(alert: Alert, budget_chars: int = SECTION_MAX_CHARS) -> str:
    """The escaped excerpt, shortened until it fits ``budget_chars`` (escaping can grow it)."""
    for max_chars in (EXCERPT_MAX_CHARS, 200, 100):
        text = "".join(
            f"*{escape_mrkdwn(seg.strip())}*" if mark else escape_mrkdwn(seg)
            for seg, mark in excerpt(alert, max_chars)
        ).strip()
        if len(text) <= budget_chars:
            return text
    return ""


def _slack_quotes(alert: Alert, budget_chars: int) -> str:
    """The quoted article sentences as mrkdwn block quotes, as many as fit ``budget_chars``."""
    quotes = article_quotes(alert)
    while quotes:
        text = "\n".join(f"> _article:_ {escape_mrkdwn(q)}" for q in quotes)
        if len(text) <= budget_chars:
            return text
        quotes = quotes[:-1]
    return ""


def _context_items(alert: Alert) -> list[str]:
    """The context line, each item already escaped."""
    items = [
        f"*{escape_mrkdwn(outlet_of(alert))}*",
        escape_mrkdwn(story_time(alert)),
        f"rule `{escape_mrkdwn(clip(alert.rule_id, 100))}`",
        f"score {alert.score:.1f}",
    ]
    names = entity_names(alert)
    if names:
        items.append("entities: " + escape_mrkdwn(", ".join(clip(n, 60) for n in names)))
    if alert.also_reported_by:
        outlets = ", ".join(clip(clean(o), 40) for o in alert.also_reported_by[:5])
        items.append("also: " + escape_mrkdwn(outlets))
    return items


def _notification_text(alert: Alert) -> str:
    sev = str(alert.severity).upper()
    return escape_mrkdwn(f"{sev}: {title_of(alert, 200)} ({outlet_of(alert)})")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A compact Block Kit message: header, linked title with excerpt, context line.

    ``alert.updated`` (a later copy of an alerted story) is a short "also reported by" message,
    posted in the original's thread when the worker set ``alert.thread_ref`` (its ``ts``);
    ``feed.health`` is a short operations notice.
    """
    if alert.event == "alert.updated":
        return _slack_update_payload(alert)
    if alert.event == "feed.health":
        return _slack_health_payload(alert)
    sev = str(alert.severity).upper()
    header = clip(f"{SEVERITY_EMOJI[alert.severity]} {sev}: {title_of(alert)}", HEADER_MAX_CHARS)
    # Title <= 200 chars and URL <= 1000 chars keep the link under 2.2K even when escaping
    # multiplies them; the excerpt and the rule description take what is left of 3000.
    section = f"*{slack_link(alert.story.url, title_of(alert, 200))}*"
    why = alert.rule_description
    why_text = f"\n_{escape_mrkdwn(clip(clean(why), 120))}_" if why else ""
    if len(section) + len(why_text) > SECTION_MAX_CHARS - 20:
        why_text = ""
    quoted = _slack_quotes(alert, SECTION_MAX_CHARS - len(section) - len(why_text) - 200)
    room = SECTION_MAX_CHARS - len(section) - len(quoted) - len(why_text) - 3
    body = _slack_excerpt(alert, room)
    section = "\n".join(part for part in (section, body, quoted) if part) + why_text
    return {
        "text": _notification_text(alert),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
            {"type": "section", "text": _mrkdwn(section)},
            {"type": "context", "elements": [_mrkdwn(item) for item in _context_items(alert)]},
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _also_reported(alert: Alert) -> str:
    """``also reported by Yonhap, NK News`` (escaped), or the outlet of this copy alone."""
    outlets = [o for o in alert.also_reported_by if o] or [outlet_of(alert)]
    return escape_mrkdwn(", ".join(clip(clean(o), 40) for o in outlets[:8]))


def _slack_update_payload(alert: Alert) -> dict[str, Any]:
    link = slack_link(alert.story.url, title_of(alert, 200))
    text = f"↪ *{escape_mrkdwn(outlet_of(alert))}* also reports this story: {link}"
    context = f"outlets so far: {_also_reported(alert)} · rule `{escape_mrkdwn(alert.rule_id)}`"
    payload: dict[str, Any] = {
        "text": escape_mrkdwn(f"Also reported by {outlet_of(alert)}: {title_of(alert, 200)}"),
        "blocks": [
            {"type": "section", "text": _mrkdwn(clip(text, SECTION_MAX_CHARS))},
            {"type": "context", "elements": [_mrkdwn(clip(context, SECTION_MAX_CHARS))]},
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }
    if alert.thread_ref:
        payload["thread_ts"] = alert.thread_ref
    return payload


def _slack_health_payload(alert: Alert) -> dict[str, Any]:
    title = escape_mrkdwn(title_of(alert, 200))
    detail = escape_mrkdwn(clip(clean(alert.story.summary), 500))
    url = escape_mrkdwn(clip(display_url(alert.story.url), 300))
    return {
        "text": f"Feed health: {title}",
        "blocks": [
            {"type": "section", "text": _mrkdwn(f"🩺 *{title}*\n{detail}")},
            {"type": "context", "elements": [_mrkdwn(f"feed URL: {url}")]},
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def slack_plain_payload(alert: Alert) -> dict[str, Any]:
    """The fallback Slack sends when blocks are refused: escaped mrkdwn text only."""
    sev = str(alert.severity).upper()
    lines = [
        f"{SEVERITY_EMOJI[alert.severity]} *{sev}*: "
        + slack_link(alert.story.url, title_of(alert, 200)),
        _slack_excerpt(alert, 600),
        _slack_quotes(alert, 700),
        " · ".join(_context_items(alert)),
    ]
    return {
        "text": clip("\n".join(line for line in lines if line), SECTION_MAX_CHARS),
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _digest_line(alert: Alert) -> str:
    sev = str(alert.severity).upper()
    link = slack_link(alert.story.url, title_of(alert, DIGEST_TITLE_MAX_CHARS))
    if alert.event == "alert.updated":
        return f"↪ also reported by *{escape_mrkdwn(outlet_of(alert))}*: {link}"
    when = story_time(alert)
    meta = escape_mrkdwn(f"{outlet_of(alert)} · {when} · {clip(alert.rule_id, 60)}")
    return f"{SEVERITY_EMOJI[alert.severity]} *{sev}* {link}\n      {meta}"


def _pack_sections(lines: Sequence[str]) -> list[list[str]]:
    """Group lines into sections of at most ``DIGEST_SECTION_CHARS`` characters each."""
    sections: list[list[str]] = []
    size = 0
    for line in lines:
        line = clip(line, DIGEST_SECTION_CHARS)
        if not sections or size + len(line) + 1 > DIGEST_SECTION_CHARS:
            sections.append([])
            size = 0
        sections[-1].append(line)
        size += len(line) + 1
    return sections


def _pack_messages(sections: Sequence[list[str]]) -> list[list[str]]:
    """Group section texts into messages within the block and character budgets."""
    messages: list[list[str]] = []
    size = 0
    for lines in sections:
        text = "\n".join(lines)
        full = bool(messages) and (
            len(messages[-1]) >= DIGEST_MAX_BLOCKS or size + len(text) > MESSAGE_BUDGET_CHARS - 1500
        )
        if not messages or full:
            messages.append([])
            size = 0
        messages[-1].append(text)
        size += len(text) + 60  # the JSON around each section block
    return messages


def slack_digest_payloads(alerts: Sequence[Alert], *, period_label: str) -> list[dict[str, Any]]:
    """One digest per period, split into as many messages as Slack's limits require."""
    if not alerts:
        return []
    ordered = most_severe_first(alerts)
    messages = _pack_messages(_pack_sections([_digest_line(a) for a in ordered]))
    label = clip(clean(period_label), 60)
    payloads = []
    for number, sections in enumerate(messages, start=1):
        part = f" (part {number}/{len(messages)})" if len(messages) > 1 else ""
        header = clip(f"Sanctions monitor digest {label}: {count_alerts(len(alerts))}{part}", 150)
        payloads.append(
            {
                "text": escape_mrkdwn(header),
                "blocks": [
                    {
                        "type": "header",
                        "text": {"type": "plain_text", "text": header, "emoji": True},
                    },
                    *({"type": "section", "text": _mrkdwn(text)} for text in sections),
                ],
                "unfurl_links": False,
                "unfurl_media": False,
            }
        )
    return payloads


def payload_size(payload: dict[str, Any]) -> int:
    """Characters of the JSON Slack receives (what its message-size limit measures)."""
    return len(json.dumps(payload, ensure_ascii=False))
