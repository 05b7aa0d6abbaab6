"""Assess: turn a story's hits into a verdict (rules fired, score, severity, evidence).

Pure core, for the pipeline, ``explain`` and ``eval``. Before the rules run, the raw hits are
cleaned so that one name never counts twice or by accident:

- an entity hit lying inside a longer entity hit is dropped (``Moscow`` inside ``The Moscow
  Times``, ``Kim`` inside ``Kim Yo Jong``), and so is a term hit inside a longer hit of the
  same term list (``resolutions`` inside ``UN resolutions``);
- a weak alias (``Kim``, ``Maria``) counts only when the story also has a strong hit of the
  same entity or of an entity on a side listed in the entity's ``confirmed_by`` (by default
  its own side): ``Kim`` with ``North Korea``, never with ``Kardashian``; the vessel ``Maria``
  only in a story that names the DPRK.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.match import Pack
from monitor.match.rules import Evidence
from monitor.models import Assessment, Hit, RuleMatch, Story


def assess(story: Story, hits: Sequence[Hit], pack: Pack) -> Assessment:
    """Run the pack's rules over ``hits`` (from ``pack.match(story)``)."""
    confirmed = confirm_hits(hits, pack)
    evidence = Evidence(
        {"title": story.title, "summary": story.summary, "content": story.content}, confirmed
    )
    matches: list[RuleMatch] = []
    for rule in pack.rules:
        match = rule.evaluate(evidence, pack.severity_of)
        if match is not None:
            matches.append(match)
    matches.sort(key=lambda m: (-m.severity, -m.score, m.rule_id))
    return Assessment(story_key=story.key, matches=tuple(matches), hits=confirmed)


def confirm_hits(hits: Sequence[Hit], pack: Pack) -> tuple[Hit, ...]:
    """Drop hits shadowed by a longer hit and weak hits that nothing confirms."""
    visible = [h for h in hits if not _shadowed(h, hits)]
    strong = [h for h in visible if h.kind == "entity" and not h.weak]
    strong_entities = {h.ref for h in strong}
    strong_sides = {h.side for h in strong}
    return tuple(
        h for h in visible if not h.weak or _confirmed(h, pack, strong_entities, strong_sides)
    )


def _confirmed(hit: Hit, pack: Pack, entities: set[str], sides: set[str | None]) -> bool:
    if hit.ref in entities:
        return True
    entity = pack.entities.get(hit.ref)
    return entity is not None and any(side in sides for side in entity.confirmed_by)


def _shadowed(hit: Hit, hits: Sequence[Hit]) -> bool:
    length = hit.end - hit.start
    return any(
        other.kind == hit.kind
        and other.field == hit.field
        and (hit.kind == "entity" or other.ref == hit.ref)
        and other.start <= hit.start
        and other.end >= hit.end
        and other.end - other.start > length
        for other in hits
    )
