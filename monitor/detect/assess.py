"""Assess: turn a story's hits into a verdict (rules fired, score, severity, evidence).

Pure core, for the pipeline, ``explain`` and ``eval``. Before the rules run, the raw hits are
cleaned so that one name never counts twice or by accident:

- an entity hit lying inside a longer entity hit is dropped (``Moscow`` inside ``The Moscow
  Times``, ``Kim`` inside ``Kim Yo Jong``), and so is a term hit inside a longer hit of the
  same term list (``resolutions`` inside ``UN resolutions``);
- a term hit inside an entity hit is dropped (``Workers' Party of Korea`` is an organisation,
  not the term ``workers``), and so is a term hit inside a hit of a term list marked
  ``masks: true`` (``aircraft carrier`` is a warship, not the vehicle ``aircraft``);
- a weak alias (``Kim``, ``Maria``) counts only when the story also has a strong hit of the
  same entity or of an entity on a side listed in the entity's ``confirmed_by`` (by default
  its own side): ``Kim`` with ``North Korea``, never with ``Kardashian``; the vessel ``Maria``
  only in a story that names the DPRK.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.detect.match import Pack
from monitor.detect.match.evidence import Evidence
from monitor.detect.match.why_not import NearMiss, near_misses
from monitor.models import Assessment, Hit, RuleMatch, Severity, Story


def assess(story: Story, hits: Sequence[Hit], pack: Pack) -> Assessment:
    """Run the pack's rules over ``hits`` (from ``pack.match(story)``)."""
    evidence = _evidence(story, hits, pack)
    confirmed = evidence.hits
    matches: list[RuleMatch] = []
    for rule in pack.rule_index.candidates(evidence):
        match = rule.evaluate(evidence, pack.severity_of)
        if match is not None:
            matches.append(match)
    matches.sort(key=lambda m: (-m.severity, -m.score, m.rule_id))
    return Assessment(story_key=story.key, matches=tuple(matches), hits=confirmed)


def why_not(
    story: Story, hits: Sequence[Hit], pack: Pack, *, min_severity: Severity, limit: int = 3
) -> list[NearMiss]:
    """The rules that came closest to flagging ``story`` at ``min_severity`` (for rule authors)."""
    evidence = _evidence(story, hits, pack)
    return near_misses(
        pack.rules, evidence, pack.severity_of, min_severity=min_severity, limit=limit
    )


def _evidence(story: Story, hits: Sequence[Hit], pack: Pack) -> Evidence:
    texts = {"title": story.title, "summary": story.summary, "content": story.content}
    return Evidence(texts, confirm_hits(hits, pack))


def confirm_hits(hits: Sequence[Hit], pack: Pack) -> tuple[Hit, ...]:
    """Drop hits shadowed by a longer hit and weak hits that nothing confirms."""
    shadowed = _shadowed(hits)
    visible = [h for i, h in enumerate(hits) if i not in shadowed]
    visible = _unmasked(visible, pack)
    strong = [h for h in visible if h.kind == "entity" and not h.weak]
    strong_entities = {h.ref for h in strong}
    strong_sides = {h.side for h in strong}
    return tuple(
        h for h in visible if not h.weak or _confirmed(h, pack, strong_entities, strong_sides)
    )


def _unmasked(hits: list[Hit], pack: Pack) -> list[Hit]:
    """``hits`` without the term hits that lie inside an entity hit or a masking term hit."""
    masks = [
        h for h in hits if h.kind == "entity" or (h.ref in pack.masking_lists and h.kind == "term")
    ]
    if not masks:
        return hits
    return [h for h in hits if h.kind == "entity" or not _inside_mask(h, masks)]


def _inside_mask(hit: Hit, masks: list[Hit]) -> bool:
    return any(
        m.field == hit.field
        and m.start <= hit.start
        and hit.end <= m.end
        and (m.end - m.start) > (hit.end - hit.start)
        and m.ref != hit.ref
        for m in masks
    )


def _confirmed(hit: Hit, pack: Pack, entities: set[str], sides: set[str | None]) -> bool:
    if hit.ref in entities:
        return True
    entity = pack.entities.get(hit.ref)
    return entity is not None and any(side in sides for side in entity.confirmed_by)


def _shadowed(hits: Sequence[Hit]) -> set[int]:
    """Indexes of the hits that lie inside a longer hit of the same field and kind (and list).

    One sweep per (field, kind, term list) in text order, longest first at each start, instead
    of comparing every pair: a hit is shadowed when an earlier-starting one reaches as far, or
    a same-starting one reaches further.
    """
    order = sorted(
        range(len(hits)),
        key=lambda i: (*_shadow_group(hits[i]), hits[i].start, -hits[i].end),
    )
    shadowed: set[int] = set()
    group: tuple[str, str, str | None] | None = None
    # ``reach``: the furthest end so far in the group; ``reach_before``: the same, over the hits
    # that start before ``start``; ``first_end``: the longest end among hits at ``start``.
    reach = reach_before = start = first_end = -1
    for i in order:
        hit = hits[i]
        if _shadow_group(hit) != group:
            group, reach, start = _shadow_group(hit), -1, -1
        if hit.start != start:
            reach_before, start, first_end = reach, hit.start, hit.end
        if reach_before >= hit.end or first_end > hit.end:
            shadowed.add(i)
        reach = max(reach, hit.end)
    return shadowed


def _shadow_group(hit: Hit) -> tuple[str, str, str | None]:
    return hit.field, hit.kind, hit.ref if hit.kind == "term" else None
