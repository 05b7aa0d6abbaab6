"""Render: turn an ``Alert`` into what a destination receives. Escaping happens HERE, at output.

Pure core (no I/O). Every string that came from a feed (title, summary, outlet, matched text)
is untrusted: a title can carry ``<!channel>``, ``<@U123>``, ``<#C1>`` or a disguised link
``<https://evil.example|Reuters>``, and a summary can carry terminal escape sequences.

- Slack (``slack_payload``, ``slack_plain_payload``, ``slack_digest_payloads``): ``&``, ``<`` and
  ``>`` are escaped in every mrkdwn string, the top-level ``text`` included, so Slack's control
  sequences reach the channel as text; mrkdwn objects are ``verbatim`` (no auto-linking of bare
  URLs or names); our own link is built only from an http(s) URL with the characters that end a
  Slack link percent-encoded. Limits (header 150, section 3000, 50 blocks, message well under
  12K) are respected by clipping the plain text before escaping.
- Webhooks (``webhook_body``): plain JSON, raw text; the receiver escapes for its own medium.
  The schema is versioned and documented in ``docs/webhook.md``.
- Console (``console_text``): control characters (ESC and friends) and bidi overrides are
  removed so a title cannot rewrite the operator's terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from monitor.models import Alert, Hit, Severity

WEBHOOK_SCHEMA_VERSION = 1
HEADER_MAX_CHARS = 150
SECTION_MAX_CHARS = 3000
MESSAGE_MAX_BLOCKS = 50
# Slack truncates and sometimes rejects messages near 12K characters; stay well below.
MESSAGE_BUDGET_CHARS = 10_000
TITLE_MAX_CHARS = 300
EXCERPT_MAX_CHARS = 400
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

# C0/C1 controls except tab and newline, DEL, and the bidi embedding/override/isolate marks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")
_ANSI = {
    Severity.LOW: "\x1b[2m",
    Severity.MEDIUM: "\x1b[33m",
    Severity.HIGH: "\x1b[1;33m",
    Severity.CRITICAL: "\x1b[1;31m",
}
_BOLD, _DIM, _HIGHLIGHT, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[1;4m", "\x1b[0m"


# --- text hygiene ---------------------------------------------------------------------------


def clean(text: str | None) -> str:
    """Untrusted text on one line: controls and bidi marks removed, whitespace collapsed."""
    return _SPACES.sub(" ", _CONTROL.sub("", text or "")).strip()


def clip(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= max_chars else text[: max(0, max_chars - 1)].rstrip() + "…"


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences (its documented rule)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_url(url: str | None) -> str | None:
    """An http(s) URL usable inside ``<url|label>``, or None (other schemes are never linked)."""
    if not url:
        return None
    url = clean(url)
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


def format_time(value: datetime | None) -> str:
    """``2026-03-01 11:00 UTC`` (minutes are enough for a news alert)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "unknown time"


def iso_z(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, as Standard Webhooks payloads use."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- pieces shared by every medium ------------------------------------------------------------


def title_of(alert: Alert, max_chars: int = TITLE_MAX_CHARS) -> str:
    return clip(clean(alert.story.title) or "(untitled story)", max_chars)


def outlet_of(alert: Alert) -> str:
    return clip(clean(alert.story.outlet) or alert.story.feed_id, 80)


def entity_names(alert: Alert, limit: int = 8) -> list[str]:
    """Distinct matched entities (their label, else the matched text), in order of appearance."""
    names = (clean(h.label or h.text) for h in alert.hits if h.kind == "entity")
    return list(dict.fromkeys(n for n in names if n))[:limit]


def excerpt(alert: Alert, max_chars: int = EXCERPT_MAX_CHARS) -> list[tuple[str, bool]]:
    """A window of the summary around the first match: ``(text, is_match)`` segments, raw."""
    text = alert.story.summary or alert.story.content
    field = "summary" if alert.story.summary else "content"
    hits = sorted(_valid_hits(alert.hits, field, text), key=lambda h: h.start)
    start = max(0, hits[0].start - max_chars // 4) if hits else 0
    if start:
        start = _word_start(text, start)
    end = min(len(text), start + max_chars)
    segments: list[tuple[str, bool]] = [("…", False)] if start else []
    cursor = start
    for hit in hits:
        if hit.start < cursor or hit.end > end:
            continue  # overlapping or outside the window
        segments += [(text[cursor : hit.start], False), (text[hit.start : hit.end], True)]
        cursor = hit.end
    segments.append((text[cursor:end], False))
    if end < len(text):
        segments.append(("…", False))
    return [(clean_inline(seg), mark) for seg, mark in segments if clean_inline(seg) or mark]


def clean_inline(text: str) -> str:
    """Like ``clean`` but keeps leading/trailing single spaces, for text between matches."""
    return _SPACES.sub(" ", _CONTROL.sub("", text))


def _valid_hits(hits: Sequence[Hit], field: str, text: str) -> Iterator[Hit]:
    for hit in hits:
        if hit.field == field and 0 <= hit.start < hit.end <= len(text):
            yield hit


def _word_start(text: str, index: int) -> int:
    space = text.rfind(" ", 0, index)
    return space + 1 if space >= 0 and index - space < 30 else index


# --- Slack ------------------------------------------------------------------------------------


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


def _context_items(alert: Alert) -> list[str]:
    """The context line, each item already escaped."""
    items = [
        f"*{escape_mrkdwn(outlet_of(alert))}*",
        escape_mrkdwn(format_time(alert.story.published_at or alert.story.fetched_at)),
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
    posted in the original's thread when ``alert.extra`` carries its ``thread_ts``;
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
    why = alert.extra_value("rule_description")
    why_text = f"\n_{escape_mrkdwn(clip(clean(why), 120))}_" if why else ""
    if len(section) + len(why_text) > SECTION_MAX_CHARS - 20:
        why_text = ""
    body = _slack_excerpt(alert, SECTION_MAX_CHARS - len(section) - len(why_text) - 2)
    section = "\n".join(part for part in (section, body) if part) + why_text
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
    thread_ts = alert.extra_value("thread_ts")
    if thread_ts:
        payload["thread_ts"] = thread_ts
    return payload


def _slack_health_payload(alert: Alert) -> dict[str, Any]:
    title = escape_mrkdwn(title_of(alert, 200))
    detail = escape_mrkdwn(clip(clean(alert.story.summary), 500))
    url = escape_mrkdwn(clip(clean(alert.story.url), 300))
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
    when = format_time(alert.story.published_at or alert.story.fetched_at)
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
    ordered = sorted(alerts, key=lambda a: (-a.severity, a.created_at))
    messages = _pack_messages(_pack_sections([_digest_line(a) for a in ordered]))
    label = clip(clean(period_label), 60)
    payloads = []
    for number, sections in enumerate(messages, start=1):
        part = f" (part {number}/{len(messages)})" if len(messages) > 1 else ""
        header = clip(f"Sanctions monitor digest {label}: {_count(len(alerts))}{part}", 150)
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


# --- webhooks -------------------------------------------------------------------------------


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "kind": hit.kind,
        "ref": hit.ref,
        "label": hit.label,
        "text": hit.text,
        "field": hit.field,
        "start": hit.start,
        "end": hit.end,
        "side": hit.side,
        "entity_type": hit.entity_type,
        "weak": hit.weak,
    }


def webhook_body(alert: Alert) -> dict[str, Any]:
    """The versioned JSON body (``docs/webhook.md``); identical on every retry of the alert."""
    story = alert.story
    path = alert.extra_value("rule_path")
    return {
        "type": alert.event,
        "timestamp": iso_z(alert.created_at),
        "data": {
            "schema_version": WEBHOOK_SCHEMA_VERSION,
            "alert_id": alert.key,
            "destination_id": alert.destination_id,
            "severity": str(alert.severity),
            "score": alert.score,
            "topic": alert.topic,
            "rule_id": alert.rule_id,
            "rule_ids": list(alert.rule_ids or (alert.rule_id,)),
            "rule_description": alert.extra_value("rule_description"),
            "rule_path": path.split(" > ") if path else [],
            "story": {
                "key": story.key,
                "title": story.title,
                "url": story.url,
                "feed_id": story.feed_id,
                "outlet": story.outlet,
                "published_at": iso_z(story.published_at) if story.published_at else None,
                "fetched_at": iso_z(story.fetched_at),
                "guid": story.guid,
                "summary": story.summary,
                "tags": list(story.tags),
            },
            "matches": [_hit_json(hit) for hit in alert.hits],
            "entities": entity_names(alert, limit=50),
            "cluster_id": alert.cluster_id or None,
            "also_reported_by": list(alert.also_reported_by),
            "created_at": iso_z(alert.created_at),
            **_event_fields(alert),
        },
    }


def _event_fields(alert: Alert) -> dict[str, Any]:
    """Fields only some event types carry (``docs/webhook.md``)."""
    if alert.event == "alert.updated":
        return {"parent_alert_id": alert.extra_value("parent_alert_id")}
    if alert.event == "feed.health":
        return {
            "health": {
                "feed_id": alert.story.feed_id,
                "before": alert.extra_value("health_before"),
                "after": alert.extra_value("health_after"),
                "detail": alert.story.summary,
            }
        }
    return {}


# --- console --------------------------------------------------------------------------------


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def console_text(alert: Alert, *, color: bool) -> str:
    """A readable block for a terminal or a log file; matched words highlighted."""
    if alert.event == "alert.updated":
        head = _paint("[ALSO REPORTED]", _DIM, color)
        outlets = ", ".join(clean(o) for o in alert.also_reported_by) or outlet_of(alert)
        return (
            f"{head} {title_of(alert)} ({outlet_of(alert)})\n"
            f"  {clean(alert.story.url) or '(no link)'}\n"
            f"  {_paint('outlets so far: ' + outlets, _DIM, color)}\n"
        )
    if alert.event == "feed.health":
        head = _paint("[FEED HEALTH]", _ANSI[alert.severity], color)
        return f"{head} {title_of(alert)}\n  {clean(alert.story.summary)}\n"
    sev = f"[{str(alert.severity).upper()}]"
    meta = [
        outlet_of(alert),
        format_time(alert.story.published_at or alert.story.fetched_at),
        f"rule {clean(alert.rule_id)} (score {alert.score:.1f})",
    ]
    names = entity_names(alert)
    if names:
        meta.append("entities: " + ", ".join(names))
    lines = [
        f"{_paint(sev, _ANSI[alert.severity], color)} {_paint(title_of(alert), _BOLD, color)}",
        f"  {clean(alert.story.url) or '(no link)'}",
        "  " + _paint(" · ".join(meta), _DIM, color),
    ]
    segments = excerpt(alert)
    if segments:
        text = "".join(
            _paint(seg, _HIGHLIGHT, color) if color and mark else (f"*{seg}*" if mark else seg)
            for seg, mark in segments
        )
        lines.append(f"  {text.strip()}")
    return "\n".join(lines) + "\n"


def defuse_mentions(text: str) -> str:
    """Text for chat services reached through Apprise (Discord, Teams, Telegram, Slack …).

    Their markup differs and Apprise passes plain text through, so the trigger characters of
    mentions and links are defused with a zero-width space: ``@everyone``, ``<!channel>``,
    ``<@U1>`` and ``<https://…|label>`` all stay readable but are no longer live.
    """
    return text.replace("@", "@\u200b").replace("<", "<\u200b")


def apprise_text(alert: Alert) -> tuple[str, str]:
    """``(title, body)`` for an Apprise notification: the console text, colourless, defused."""
    title = clip(f"{str(alert.severity).upper()}: {title_of(alert)}", 200)
    return defuse_mentions(title), defuse_mentions(console_text(alert, color=False))


def console_digest_text(alerts: Sequence[Alert], *, period_label: str, color: bool) -> str:
    """A digest for the console: one line per alert, most severe first."""
    head = f"== digest {clean(period_label)}: {_count(len(alerts))} =="
    lines = [_paint(head, _BOLD, color)]
    for alert in sorted(alerts, key=lambda a: (-a.severity, a.created_at)):
        sev = _paint(f"[{str(alert.severity).upper()}]", _ANSI[alert.severity], color)
        lines.append(f"{sev} {title_of(alert, 150)} ({outlet_of(alert)}) {clean(alert.story.url)}")
    return "\n".join(lines) + "\n"


def _count(n: int) -> str:
    return f"{n} alert" if n == 1 else f"{n} alerts"
