"""Explain an assessment to a person: severity, score, rule paths and every matched span.

For ``sanctions-monitor explain`` and for rule authors debugging a miss or a false alarm.
The text of each field is printed with its matched spans highlighted (ANSI colours when
``color``, else ``[brackets]``), then one line per span naming the entity or term list it hit.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.detect.match.why_not import NearMiss
from monitor.models import Assessment, Hit, Story

_RESET = "\x1b[0m"
_COLOURS = {"dprk": "\x1b[1;31m", "russia": "\x1b[1;34m", "other": "\x1b[1;36m"}
_TERM_COLOUR = "\x1b[1;33m"
_DIM = "\x1b[2m"


def format_explanation(
    story: Story,
    assessment: Assessment,
    *,
    color: bool,
    near_misses: Sequence[NearMiss] = (),
) -> str:
    """The full explanation as text (several lines, no trailing newline).

    ``near_misses`` (from ``assess.why_not``) are listed as "closest rules" with what each one
    lacks: for a story that no rule flags, the reason it was not flagged.
    """
    lines = [_headline(assessment)]
    lines += _rules(assessment)
    if near_misses:
        lines.append("closest rules (why not):")
        lines += [f"  - {miss.describe()}" for miss in near_misses]
    for field in ("title", "summary", "content"):
        text = getattr(story, field)
        if text:
            hits = [h for h in assessment.hits if h.field == field]
            lines.append(f"{field}:")
            lines.append("  " + highlight(text, hits, color=color))
    lines += _spans(assessment.hits, color=color)
    return "\n".join(lines)


def _headline(assessment: Assessment) -> str:
    if assessment.severity is None:
        return "severity: none (no rule fired)"
    rules = ", ".join(assessment.rule_ids)
    return f"severity: {assessment.severity}  score: {assessment.score:g}  rules: {rules}"


def _rules(assessment: Assessment) -> list[str]:
    lines = []
    for match in assessment.matches:
        topic, rule_id, *steps = match.path or (match.topic, match.rule_id)
        lines.append(f"rule {topic} > {rule_id} ({match.severity}, score {match.score:g})")
        if match.description:
            lines.append(f"  {match.description}")
        lines += [f"  - {step}" for step in steps]
    return lines


def highlight(text: str, hits: Sequence[Hit], *, color: bool) -> str:
    """``text`` with the (merged) spans of ``hits`` marked."""
    regions: list[tuple[int, int, Hit]] = []
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if not 0 <= hit.start < hit.end <= len(text):
            continue
        if regions and hit.start < regions[-1][1]:
            start, end, first = regions[-1]
            regions[-1] = (start, max(end, hit.end), first)
        else:
            regions.append((hit.start, hit.end, hit))
    out: list[str] = []
    cursor = 0
    for start, end, hit in regions:
        out.append(text[cursor:start])
        span = text[start:end]
        out.append(f"{_colour(hit)}{span}{_RESET}" if color else f"[{span}]")
        cursor = end
    out.append(text[cursor:])
    return " ".join("".join(out).split())


def _spans(hits: Sequence[Hit], *, color: bool) -> list[str]:
    if not hits:
        return ["spans: none"]
    lines = ["spans:"]
    for hit in sorted(hits, key=lambda h: (_FIELD_ORDER.get(h.field, 3), h.start)):
        what = _describe(hit)
        where = f"{hit.field} {hit.start}-{hit.end}"
        shown = f"{_colour(hit)}{hit.text}{_RESET}" if color else f'"{hit.text}"'
        lines.append(f"  {where:<18} {shown}  {what}")
    return lines


_FIELD_ORDER = {"title": 0, "summary": 1, "content": 2}


def _describe(hit: Hit) -> str:
    if hit.kind == "entity":
        weak = ", weak alias confirmed" if hit.weak else ""
        return f"entity {hit.ref} ({hit.label}; {hit.entity_type}, side {hit.side}{weak})"
    return f"term {hit.ref} ({hit.label})"


def _colour(hit: Hit) -> str:
    if hit.kind == "term":
        return _TERM_COLOUR
    return _COLOURS.get(hit.side or "other", _DIM)
