"""The rule language: conditions over hits, proximity and scope, weights, exclusions.

For rule authors (docs/rules.md is the reference) and ``assess``. A rule fires when its
condition holds on a story's confirmed hits and none of its ``unless`` conditions does:

- ``all``: every atom has a hit; ``any``: at least one atom has a hit; ``none``: no atom has a
  hit (in the same unit as the others);
- an atom tests one hit: ``side``, ``type``, ``entity``, ``terms``, ``fields`` (all given keys
  must agree), or ``any: [atoms]`` for alternatives;
- ``scope``: ``story`` (anywhere), ``field`` (title, summary or content alone) or ``sentence``;
  ``near: N``: the hits chosen for ``all`` and ``any`` lie within N words of each other in one
  field (or sentence); ``fields`` limits which fields are looked at;
- ``weight`` plus every ``boost`` whose atom has a hit gives the score; the pack's thresholds
  turn the score into a severity, capped by the rule's and the topic's ``max_severity``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from monitor.detect.match.evidence import Evidence
from monitor.models import Field, Hit, RuleMatch, Severity

FIELDS: tuple[Field, ...] = ("title", "summary", "content")
SCOPES = ("story", "field", "sentence")
SEVERITIES = tuple(str(s) for s in Severity)


@dataclass(frozen=True, slots=True)
class Atom:
    """A test on one hit; ``label`` is how explanations name it (``side=russia``)."""

    label: str
    kind: str | None = None
    sides: frozenset[str] | None = None
    types: frozenset[str] | None = None
    entities: frozenset[str] | None = None
    terms: frozenset[str] | None = None
    fields: frozenset[str] | None = None
    alternatives: tuple[Atom, ...] = ()
    anywhere: bool = False
    anchor: bool = False

    @property
    def sided(self) -> bool:
        """Whether the atom names a side (so an enumeration cannot supply it)."""
        return self.sides is not None or any(alt.sided for alt in self.alternatives)

    def possible(self, evidence: Evidence) -> bool:
        """Cheap pre-check on the story's sets of refs, sides and types (no per-hit work)."""
        if self.alternatives:
            return any(alt.possible(evidence) for alt in self.alternatives)
        return (
            (self.terms is None or not self.terms.isdisjoint(evidence.refs))
            and (self.entities is None or not self.entities.isdisjoint(evidence.refs))
            and (self.sides is None or not self.sides.isdisjoint(evidence.sides))
            and (self.types is None or not self.types.isdisjoint(evidence.types))
        )

    def triggers(self) -> frozenset[tuple[str, str]] | None:
        """Story facts of which ``possible`` needs at least one, or None when it needs none.

        A fact is ``("ref", id)``, ``("side", side)`` or ``("type", type)``; one constraint is
        enough to make a necessary condition (the most selective: refs, then sides, types).
        """
        if self.alternatives:
            facts: set[tuple[str, str]] = set()
            for alt in self.alternatives:
                found = alt.triggers()
                if found is None:
                    return None
                facts |= found
            return frozenset(facts)
        for key, names in (
            ("ref", self.terms),
            ("ref", self.entities),
            ("side", self.sides),
            ("type", self.types),
        ):
            if names is not None:
                return frozenset((key, name) for name in names)
        return None

    def test(self, hit: Hit) -> bool:
        if self.alternatives:
            in_field = self.fields is None or hit.field in self.fields
            return in_field and any(alt.test(hit) for alt in self.alternatives)
        return (
            (self.kind is None or hit.kind == self.kind)
            and (self.sides is None or (hit.kind == "entity" and hit.side in self.sides))
            and (self.types is None or hit.entity_type in self.types)
            and (self.entities is None or (hit.kind == "entity" and hit.ref in self.entities))
            and (self.terms is None or (hit.kind == "term" and hit.ref in self.terms))
            and (self.fields is None or hit.field in self.fields)
        )


@dataclass(frozen=True, slots=True)
class Condition:
    """``all`` / ``any`` / ``none`` within a scope, optionally ``near`` N words."""

    all: tuple[Atom, ...] = ()
    any: tuple[Atom, ...] = ()
    none: tuple[Atom, ...] = ()
    near: int | None = None
    scope: str = "story"
    fields: frozenset[str] | None = None
    requirements: tuple[Atom, ...] = field(default=())

    def find(self, evidence: Evidence) -> tuple[Hit, ...] | None:
        """The hits that satisfy the condition, or None when it does not hold."""
        if not all(req.possible(evidence) for req in self.requirements):
            return None  # most rules stop here, before looking at any hit
        hits = [h for h in evidence.hits if self.fields is None or h.field in self.fields]
        if not self.requirements:
            # Only ``none``: holds when no hit matches.
            return None if any(a.test(h) for a in self.none for h in hits) else ()
        found = self.candidates(evidence, hits)
        if not all(found):
            return None
        if self.scope == "story" and self.near is None:
            if any(a.test(h) for a in self.none for h in hits):
                return None
            return _unique(h for group in found for h in group)
        local = [g for g, req in zip(found, self.requirements, strict=True) if not req.anywhere]
        if not local:
            return _unique(h for group in found for h in group)
        anywhere = [
            h for g, r in zip(found, self.requirements, strict=True) if r.anywhere for h in g
        ]
        together = self._find_in_units(evidence, hits, local)
        return None if together is None else _unique([*together, *anywhere])

    def candidates(self, evidence: Evidence, hits: Sequence[Hit]) -> list[list[Hit]]:
        """Per requirement, the hits that pass it.

        Two sides never come from one enumeration: a name listed with another name that
        passes a different side part ("sales to China, North Korea, Iran and Russia") does not
        count for its side.
        """
        sided = [req for req in self.requirements if req.sided]
        if len(sided) < 2:
            return [[h for h in hits if req.test(h)] for req in self.requirements]
        return [
            [
                h
                for h in hits
                if req.test(h) and not (req.sided and _listed(h, req, sided, evidence))
            ]
            for req in self.requirements
        ]

    def _find_in_units(
        self, evidence: Evidence, hits: list[Hit], found: list[list[Hit]]
    ) -> tuple[Hit, ...] | None:
        unit_of = self._unit_key(evidence)
        local = [req for req in self.requirements if not req.anywhere]
        anchor = next((i for i, req in enumerate(local) if req.anchor), None)
        for unit in dict.fromkeys(unit_of(h) for h in found[0]):
            groups = [[h for h in group if unit_of(h) == unit] for group in found]
            if not all(groups):
                continue
            if any(a.test(h) for a in self.none for h in hits if unit_of(h) == unit):
                continue
            if self.near is None:
                return _unique(h for group in groups for h in group)
            if anchor is not None:
                window = _anchored(groups, anchor, evidence.word_of, self.near)
            else:
                window = _window(groups, evidence.word_of, self.near)
            if window is not None:
                return window
        return None

    def _unit_key(self, evidence: Evidence) -> Callable[[Hit], Hashable]:
        if self.scope == "sentence":
            return lambda h: (h.field, evidence.sentence_of(h))
        return lambda h: (h.field, evidence.unit_of(h))


def _listed(hit: Hit, req: Atom, sided: list[Atom], evidence: Evidence) -> bool:
    """Whether ``hit`` shares an enumeration with a name that passes another side part."""
    members = evidence.list_of(hit)
    return any(other is not req and other.test(m) for m in members if m != hit for other in sided)


def _anchored(
    groups: list[list[Hit]], anchor: int, position: Callable[[Hit], int], near: int
) -> tuple[Hit, ...] | None:
    """The first anchor hit with a hit of every other group within ``near`` words of it.

    For rules whose parts hang off one word ("X sent *troops* to fight for Y"): each part is
    measured from the anchor, not from each other, so the two sides may sit either side of it.
    """
    for pivot in groups[anchor]:
        where = position(pivot)
        close = [[h for h in group if abs(position(h) - where) <= near] for group in groups]
        if all(close):
            return _unique([pivot, *(h for group in close for h in group)])
    return None


def _window(
    groups: list[list[Hit]], position: Callable[[Hit], int], near: int
) -> tuple[Hit, ...] | None:
    """Hits covering every group within ``near`` words, if any such window exists.

    The tightest window decides whether the condition holds; the evidence returned is every
    candidate hit that lies within ``near`` words of that window, so an explanation names all
    nearby mentions (``Putin`` and ``Russian``), not only the closest one.
    """
    events = sorted(
        ((position(h), i, h.start, h) for i, group in enumerate(groups) for h in group),
        key=lambda event: event[:3],
    )
    counts = [0] * len(groups)
    covered = 0
    left = 0
    best: tuple[int, int, int] | None = None
    for pos, group, _, _ in events:
        counts[group] += 1
        covered += counts[group] == 1
        while covered == len(groups):
            width = pos - events[left][0]
            if width <= near and (best is None or width < best[0]):
                best = (width, events[left][0], pos)
            counts[events[left][1]] -= 1
            covered -= counts[events[left][1]] == 0
            left += 1
    if best is None:
        return None
    _, first, last = best
    return _unique(e[3] for e in events if last - near <= e[0] <= first + near)


def _unique(hits: Iterable[Hit]) -> tuple[Hit, ...]:
    return tuple(dict.fromkeys(hits))


@dataclass(frozen=True, slots=True)
class Topic:
    """A group of rules users switch on and off and route together."""

    id: str
    description: str = ""
    max_severity: Severity = Severity.CRITICAL


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule."""

    id: str
    topic: str
    description: str
    condition: Condition
    also: tuple[Condition, ...] = ()
    unless: tuple[Condition, ...] = ()
    weight: float = 2.0
    boosts: tuple[tuple[Atom, float], ...] = ()
    max_severity: Severity = Severity.CRITICAL
    source: str = ""

    def evaluate(
        self, evidence: Evidence, severity_of: Callable[[float], Severity | None]
    ) -> RuleMatch | None:
        """A ``RuleMatch`` when the rule fires on ``evidence``, else None."""
        found = self.condition.find(evidence)
        if found is None:
            return None
        path = [self.topic, self.id, *_describe(self.condition, found)]
        for extra in self.also:
            more = extra.find(evidence)
            if more is None:
                return None
            path.extend(f"also {part}" for part in _describe(extra, more))
            found = _unique([*found, *more])
        if any(cond.find(evidence) is not None for cond in self.unless):
            return None
        score = self.weight
        boost_hits: list[Hit] = []
        for atom, weight in self.boosts:
            matched = [h for h in evidence.hits if atom.test(h)]
            if matched:
                score += weight
                boost_hits.extend(matched)
                path.append(f"boost {atom.label} {weight:+g}: {_quote(matched)}")
        severity = severity_of(score)
        if severity is None:
            return None
        severity = min(severity, self.max_severity)
        path.append(f"score {score:g} -> {severity}")
        return RuleMatch(
            rule_id=self.id,
            topic=self.topic,
            score=round(score, 3),
            severity=severity,
            hits=_unique([*found, *boost_hits]),
            path=tuple(path),
            description=self.description,
        )


class RuleIndex:
    """Which rules can fire on a story, from the facts its hits establish.

    For ``assess``: most stories have few hits and most rules need an entity, side or term
    list the story does not have. Each requirement of a rule's condition gives the facts it
    needs (``Atom.triggers``); a rule is filed under the facts of its first such requirement
    and offered only when every such requirement has one of its facts. Rules with none are
    always offered. The rules offered still run their full condition: the index only skips
    rules that cannot hold.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = tuple(rules)
        self._gates: list[tuple[frozenset[tuple[str, str]], ...]] = []
        self._always: list[int] = []
        self._by_fact: dict[tuple[str, str], list[int]] = {}
        for i, rule in enumerate(self._rules):
            found = (req.triggers() for req in rule.condition.requirements)
            gates = tuple(triggers for triggers in found if triggers is not None)
            self._gates.append(gates)
            if not gates:
                self._always.append(i)
            for fact in gates[0] if gates else ():
                self._by_fact.setdefault(fact, []).append(i)

    def candidates(self, evidence: Evidence) -> list[Rule]:
        """The rules, in pack order, whose every gated requirement may hold on ``evidence``."""
        facts = evidence.facts
        chosen = set(self._always)
        for fact in facts:
            chosen.update(self._by_fact.get(fact, ()))
        return [
            self._rules[i]
            for i in sorted(chosen)
            if all(not gate.isdisjoint(facts) for gate in self._gates[i])
        ]


def _describe(condition: Condition, found: Sequence[Hit]) -> list[str]:
    parts = []
    for req in condition.requirements:
        matched = [h for h in found if req.test(h)]
        parts.append(f"{req.label}: {_quote(matched)}")
    if condition.near is not None:
        parts.append(f"near {condition.near} words")
    if condition.scope != "story":
        parts.append(f"same {condition.scope}")
    return parts


def _quote(hits: Sequence[Hit]) -> str:
    return ", ".join(dict.fromkeys(f'"{h.text}"' for h in hits)) or "-"
