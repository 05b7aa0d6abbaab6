"""Text helpers every renderer shares: untrusted text made safe to show, and the pieces of an
alert each medium displays (title, outlet, entities, the excerpt around the first match).

Pure core. Everything here returns raw (unescaped) text; each medium escapes for itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from monitor.models import Alert, Hit

TITLE_MAX_CHARS = 300
EXCERPT_MAX_CHARS = 400
QUOTE_MAX_CHARS = 300
#: How payloads name the field a quoted sentence came from (``content`` is the article text).
FIELD_LABELS = {"title": "title", "summary": "summary", "content": "article"}

# Removed from every shown string: C0/C1 controls except tab and newline, DEL; bidi controls
# (LRM/RLM U+200E/F, ALM U+061C, embeddings/overrides U+202A-E, isolates U+2066-9) that can
# reorder what a reader sees; invisible format characters (soft hyphen, Mongolian vowel
# separator, zero-width space, word joiner and invisible operators, deprecated format
# controls U+206A-F, BOM, interlinear annotations); and the tag characters U+E0000-E007F,
# which carry hidden ASCII. ZWNJ/ZWJ (U+200C/D) stay: scripts and emoji need them.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)
_SPACES = re.compile(r"\s+")


def clean(text: str | None) -> str:
    """Untrusted text on one line: controls and bidi marks removed, whitespace collapsed."""
    return _SPACES.sub(" ", _CONTROL.sub("", text or "")).strip()


def clean_inline(text: str) -> str:
    """Like ``clean`` but keeps leading/trailing single spaces, for text between matches."""
    return _SPACES.sub(" ", _CONTROL.sub("", text))


def display_url(url: str | None) -> str:
    """A link as shown to a person: ``clean``ed, its host in punycode (``xn--``) when it is not
    plain ASCII, so a look-alike (``аpple.com`` with a Cyrillic ``а``) cannot pass for the real
    one. The path and query are left as the feed gave them."""
    text = clean(url)
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return text
    if not host or host.isascii():
        return text
    userinfo, at, hostport = parts.netloc.rpartition("@")
    port = f":{parts.port}" if _has_port(hostport) else ""
    netloc = f"{userinfo}{at}{punycode_host(host)}{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def punycode_host(host: str) -> str:
    """``пример.рф`` → ``xn--e1afmkfd.xn--p1ai`` (IDNA; label by label where IDNA refuses)."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        labels = re.split("[.\u3002\uff0e\uff61]", host)
        return ".".join(
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in labels
        )


def _has_port(hostport: str) -> bool:
    try:
        return urlsplit(f"//{hostport}").port is not None
    except ValueError:
        return False


def clip(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= max_chars else text[: max(0, max_chars - 1)].rstrip() + "…"


def format_time(value: datetime | None) -> str:
    """``2026-03-01 11:00 UTC`` (minutes are enough for a news alert)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "unknown time"


def iso_z(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, as Standard Webhooks payloads use."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def count_alerts(n: int) -> str:
    """``1 alert`` / ``3 alerts`` for digest headers."""
    return f"{n} alert" if n == 1 else f"{n} alerts"


def most_severe_first(alerts: Iterable[Alert]) -> list[Alert]:
    """The order digests list alerts in: most severe first, then oldest first."""
    return sorted(alerts, key=lambda a: (-a.severity, a.created_at))


def title_of(alert: Alert, max_chars: int = TITLE_MAX_CHARS) -> str:
    """The story's title, cleaned and clipped; ``TEST: …`` for a test alert (``test-alert``)."""
    title = clean(alert.story.title) or "(untitled story)"
    return clip(f"TEST: {title}" if alert.event == "alert.test" else title, max_chars)


def outlet_of(alert: Alert) -> str:
    return clip(clean(alert.story.outlet) or alert.story.feed_id, 80)


def story_time(alert: Alert) -> str:
    """When the story appeared (its publication time, else when we fetched it)."""
    return format_time(alert.story.published_at or alert.story.fetched_at)


def entity_names(alert: Alert, limit: int = 8) -> list[str]:
    """Distinct matched entities (their label, else the matched text), in order of appearance."""
    names = (clean(h.label or h.text) for h in alert.hits if h.kind == "entity")
    return list(dict.fromkeys(n for n in names if n))[:limit]


def article_quotes(alert: Alert, limit: int = 2) -> list[str]:
    """The quoted sentences of the article an alert was judged on (raw text, one line each)."""
    if alert.evidence is None:
        return []
    quotes = (q.text for q in alert.evidence.quotes if q.field == "content")
    return [clip(clean(text), QUOTE_MAX_CHARS) for text in quotes][:limit]


def excerpt(alert: Alert, max_chars: int = EXCERPT_MAX_CHARS) -> list[tuple[str, bool]]:
    """A window of the summary around the first match: ``(text, is_match)`` segments, raw.

    Empty for a story without a summary whose article is quoted (the quotes say it better).
    """
    if not alert.story.summary and article_quotes(alert, limit=1):
        return []
    text = alert.story.summary or alert.story.content
    field = "summary" if alert.story.summary else "content"
    hits = sorted(_valid_hits(alert.hits, field, text), key=lambda h: h.start)
    start = max(0, hits[0].start - max_chars // 4) if hits else 0
    if start:
        start = _word_start(text, start)
    end = min(len(text), start + max_chars)
    segments = [("…", False)] if start else []
    segments += _marked(text, hits, start, end)
    if end < len(text):
        segments.append(("…", False))
    return [(clean_inline(seg), mark) for seg, mark in segments if clean_inline(seg) or mark]


def _marked(text: str, hits: Sequence[Hit], start: int, end: int) -> list[tuple[str, bool]]:
    """``text[start:end]`` cut into plain and matched segments (overlapping hits skipped)."""
    segments: list[tuple[str, bool]] = []
    cursor = start
    for hit in hits:
        if hit.start < cursor or hit.end > end:
            continue  # overlapping or outside the window
        segments += [(text[cursor : hit.start], False), (text[hit.start : hit.end], True)]
        cursor = hit.end
    segments.append((text[cursor:end], False))
    return segments


def _valid_hits(hits: Sequence[Hit], field: str, text: str) -> Iterator[Hit]:
    for hit in hits:
        if hit.field == field and 0 <= hit.start < hit.end <= len(text):
            yield hit


def _word_start(text: str, index: int) -> int:
    space = text.rfind(" ", 0, index)
    return space + 1 if space >= 0 and index - space < 30 else index
