"""Console text: a readable block per alert for a terminal or a log file.

Pure core. Control characters (ESC and friends) and bidi overrides are removed (``text.clean``)
so a title cannot rewrite the operator's terminal; colour is added only when asked.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.deliver.render.text import (
    article_quotes,
    clean,
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

_ANSI = {
    Severity.LOW: "\x1b[2m",
    Severity.MEDIUM: "\x1b[33m",
    Severity.HIGH: "\x1b[1;33m",
    Severity.CRITICAL: "\x1b[1;31m",
}
_BOLD, _DIM, _HIGHLIGHT, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[1;4m", "\x1b[0m"


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def console_text(alert: Alert, *, color: bool) -> str:
    """A readable block for a terminal or a log file; matched words highlighted."""
    if alert.event == "alert.updated":
        return _update_text(alert, color)
    if alert.event == "feed.health":
        head = _paint("[FEED HEALTH]", _ANSI[alert.severity], color)
        return f"{head} {title_of(alert)}\n  {clean(alert.story.summary)}\n"
    sev = f"[{str(alert.severity).upper()}]"
    meta = [
        outlet_of(alert),
        story_time(alert),
        f"rule {clean(alert.rule_id)} (score {alert.score:.1f})",
    ]
    names = entity_names(alert)
    if names:
        meta.append("entities: " + ", ".join(names))
    lines = [
        f"{_paint(sev, _ANSI[alert.severity], color)} {_paint(title_of(alert), _BOLD, color)}",
        f"  {display_url(alert.story.url) or '(no link)'}",
        "  " + _paint(" · ".join(meta), _DIM, color),
    ]
    segments = excerpt(alert)
    if segments:
        text = "".join(
            _paint(seg, _HIGHLIGHT, color) if color and mark else (f"*{seg}*" if mark else seg)
            for seg, mark in segments
        )
        lines.append(f"  {text.strip()}")
    lines += [f"  article: “{quote}”" for quote in article_quotes(alert)]
    return "\n".join(lines) + "\n"


def _update_text(alert: Alert, color: bool) -> str:
    """``alert.updated``: one more outlet reports a story already alerted."""
    head = _paint("[ALSO REPORTED]", _DIM, color)
    outlets = ", ".join(clean(o) for o in alert.also_reported_by) or outlet_of(alert)
    return (
        f"{head} {title_of(alert)} ({outlet_of(alert)})\n"
        f"  {display_url(alert.story.url) or '(no link)'}\n"
        f"  {_paint('outlets so far: ' + outlets, _DIM, color)}\n"
    )


def console_digest_text(alerts: Sequence[Alert], *, period_label: str, color: bool) -> str:
    """A digest for the console: one line per alert, most severe first."""
    head = f"== digest {clean(period_label)}: {count_alerts(len(alerts))} =="
    lines = [_paint(head, _BOLD, color)]
    for alert in most_severe_first(alerts):
        sev = _paint(f"[{str(alert.severity).upper()}]", _ANSI[alert.severity], color)
        lines.append(
            f"{sev} {title_of(alert, 150)} ({outlet_of(alert)}) {display_url(alert.story.url)}"
        )
    return "\n".join(lines) + "\n"
