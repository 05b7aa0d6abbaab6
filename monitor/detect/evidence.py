"""Evidence: which thin stories deserve an article fetch, and what an alert keeps as proof.

Pure core (no I/O, no clock: ``now`` is an argument). For the poller, which asks two things:

- before judging: ``is_thin`` (the feed gave fewer than N words besides the title) and
  ``is_candidate`` (the story already has a DPRK-side or Russia-side hit, so the article may
  complete a rule) decide whether ``enrich`` fetches the article; never for every story;
- after routing: ``attach_evidence`` gives each new alert an ``EvidenceRef`` (the SHA-256 of the
  judged text, when it was fetched, the quoted sentences) and returns one ``EvidenceSnapshot``
  per alerted story for the store, so ``evidence ALERT_ID`` can show what the article said
  at the time even after the outlet edits or deletes it.

Quotes are the sentences holding the hits of the rule that decided the alert, each with the
field it came from (``title``, ``summary`` or ``content``, the article text).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from monitor.detect.assess import why_not
from monitor.detect.match import Pack
from monitor.detect.match.evidence import _SENTENCE_END  # one sentence rule: rules, quotes
from monitor.models import (
    Alert,
    Article,
    Assessment,
    EvidenceSnapshot,
    Hit,
    Quote,
    Severity,
    Story,
)

CANDIDATE_SIDES = frozenset({"dprk", "russia"})
QUOTE_MAX_CHARS = 400
MAX_QUOTES = 3
_WORD = re.compile(r"\w+")
_PARAGRAPH_END = re.compile(r"\n\s*")


def word_count(text: str) -> int:
    """Words in ``text`` (any script: ``\\w+`` runs)."""
    return sum(1 for _ in _WORD.finditer(text))


def is_thin(story: Story, *, min_words: int) -> bool:
    """True when the feed's text besides the title has fewer than ``min_words`` words.

    A summary that is only a photo caption or repeats the headline counts like an empty one;
    a story whose feed already carries full ``content`` is not thin.
    """
    return word_count(story.summary) < min_words and word_count(story.content) < min_words


def is_candidate(hits: Sequence[Hit]) -> bool:
    """True when the story has a DPRK-side or Russia-side entity hit (not a weak alias).

    The enricher's first test before fetching; ``is_partial_match`` is the second.
    """
    return any(h.kind == "entity" and not h.weak and h.side in CANDIDATE_SIDES for h in hits)


def is_partial_match(story: Story, hits: Sequence[Hit], pack: Pack) -> bool:
    """True when the rule closest to flagging ``story`` lacks one part only (issue 12's why-not).

    ``met`` counts the rule's parts that hold plus its score; one part short means every part
    but one holds (the score is not reached then either). Costs ~0.2 ms: asked only for thin
    stories that have hits but no DPRK-side or Russia-side one.
    """
    if not hits:
        return False
    closest = why_not(story, hits, pack, min_severity=Severity.LOW, limit=1)
    return bool(closest) and closest[0].met >= closest[0].total - 2


def with_article(story: Story, article: Article) -> Story:
    """``story`` judged on the article: its text becomes the ``content`` field."""
    return replace(story, content=article.text)


# --- quotes ------------------------------------------------------------------------------------


def sentence_bounds(text: str, index: int) -> tuple[int, int]:
    """``(start, end)`` of the sentence of ``text`` holding ``index``; a line break also ends one.

    Paragraphs (lines of an article, bullets of a roundup) never run into one quote.
    """
    start, end = 0, len(text)
    for pattern in (_SENTENCE_END, _PARAGRAPH_END):
        for m in pattern.finditer(text):
            if m.end() <= index:
                start = max(start, m.end())
            elif m.start() >= index:
                end = min(end, m.start() + (1 if pattern is _SENTENCE_END else 0))
                break
    return start, end


def quotes_for(story: Story, hits: Sequence[Hit], *, limit: int = MAX_QUOTES) -> tuple[Quote, ...]:
    """The sentences holding ``hits``, in field order then text order, without repeats."""
    texts: Mapping[str, str] = {
        "title": story.title,
        "summary": story.summary,
        "content": story.content,
    }
    spans: dict[tuple[str, int, int], None] = {}
    order = {"title": 0, "summary": 1, "content": 2}
    for hit in sorted(hits, key=lambda h: (order.get(h.field, 3), h.start)):
        text = texts.get(hit.field, "")
        if 0 <= hit.start < hit.end <= len(text):
            spans[(hit.field, *sentence_bounds(text, hit.start))] = None
    quotes = []
    for field, start, end in spans:
        sentence = " ".join(texts[field][start:end].split())
        if sentence:
            quotes.append(Quote(field=field, text=_clip(sentence)))  # type: ignore[arg-type]
    return tuple(dict.fromkeys(quotes))[:limit]


def _clip(text: str) -> str:
    return text if len(text) <= QUOTE_MAX_CHARS else text[: QUOTE_MAX_CHARS - 1].rstrip() + "…"


# --- snapshots ---------------------------------------------------------------------------------


def judged_text(story: Story) -> str:
    """The text the rules saw: title, summary, article (when fetched), blank lines between."""
    return "\n\n".join(part for part in (story.title, story.summary, story.content) if part)


def snapshot(
    story: Story,
    hits: Sequence[Hit],
    article: Article | None,
    *,
    now: datetime,
    alert_keys: Sequence[str] = (),
) -> EvidenceSnapshot:
    """The evidence of one alerted story (``hits``: the deciding rule's, for the quotes)."""
    text = judged_text(story)
    return EvidenceSnapshot(
        story_key=story.key,
        feed_id=story.feed_id,
        story_url=story.url,
        created_at=now,
        title=story.title,
        summary=story.summary,
        article_text=story.content if article is not None else "",
        text=text,
        text_sha256=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        fetched_at=article.fetched_at if article is not None else story.fetched_at,
        article_fetched=article is not None,
        final_url=article.url if article is not None else None,
        http_status=article.status if article is not None else None,
        body_sha256=article.body_sha256 if article is not None else None,
        quotes=quotes_for(story, hits),
        alert_keys=tuple(alert_keys),
    )


def attach_evidence(
    alerts: Sequence[Alert],
    assessments: Sequence[Assessment],
    articles: Mapping[str, Article],
    *,
    now: datetime,
) -> tuple[list[Alert], list[EvidenceSnapshot]]:
    """Every ``alert.created`` with its ``EvidenceRef``; one snapshot per alerted story.

    Follow-ups (``alert.updated``) and health alerts pass through unchanged: the evidence of a
    cluster is its first story's.
    """
    by_story = {a.story_key: a for a in assessments}
    keys: dict[str, list[str]] = {}
    for alert in alerts:
        if alert.event == "alert.created" and alert.story.key in by_story:
            keys.setdefault(alert.story.key, []).append(alert.key)
    snaps: dict[str, EvidenceSnapshot] = {}
    out: list[Alert] = []
    for alert in alerts:
        if alert.story.key not in keys or alert.event != "alert.created":
            out.append(alert)
            continue
        snap = snaps.get(alert.story.key)
        if snap is None:
            snap = snapshot(
                alert.story,
                _deciding_hits(by_story[alert.story.key], alert.rule_id),
                articles.get(alert.story.key),
                now=now,
                alert_keys=keys[alert.story.key],
            )
            snaps[alert.story.key] = snap
        out.append(replace(alert, evidence=snap.ref))
    return out, list(snaps.values())


def _deciding_hits(assessment: Assessment, rule_id: str) -> tuple[Hit, ...]:
    match = next((m for m in assessment.matches if m.rule_id == rule_id), assessment.top)
    return match.hits if match is not None and match.hits else assessment.hits
