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

import bisect
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.detect.match.schema import Where, choice, ident, mapping, number, sequence, text
from monitor.models import Field, Hit, RuleMatch, Severity

FIELDS: tuple[Field, ...] = ("title", "summary", "content")
SCOPES = ("story", "field", "sentence")
ATOM_KEYS = ("side", "type", "entity", "terms", "fields", "any", "kind")
CONDITION_KEYS = ("all", "any", "none", "near", "scope", "fields")
RULE_KEYS = (
    *CONDITION_KEYS,
    *("id", "topic", "description", "weight", "boost", "also", "unless", "max_severity"),
    "enabled",
)
SEVERITIES = tuple(str(s) for s in Severity)

# A sentence ends at . ! ? (or their full-width forms) followed by space, unless the word
# before the dot is a single letter (U.S., D.P.R.K.) or a title (Mr., Gen.).
_SENTENCE_END = re.compile(
    r"(?<![\s.][A-Za-z])(?<!\b(?:Mr|Ms|Dr|St|No|Lt|Mt|vs))[.!?。！？]+[\"'”’»)]*\s+"
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What rules may refer to: the ids the watchlists define."""

    entities: frozenset[str]
    entity_types: frozenset[str]
    term_lists: frozenset[str]


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


class Evidence:
    """A story's confirmed hits plus lazily computed word and sentence positions."""

    def __init__(self, texts: Mapping[str, str], hits: Sequence[Hit]) -> None:
        self.texts = texts
        self.hits = tuple(hits)
        self.refs = {h.ref for h in self.hits}
        self.sides = {h.side for h in self.hits if h.kind == "entity"}
        self.types = {h.entity_type for h in self.hits if h.kind == "entity"}
        self.facts = {
            *(("ref", ref) for ref in self.refs),
            *(("side", side) for side in self.sides if side is not None),
            *(("type", kind) for kind in self.types if kind is not None),
        }
        self._words: dict[str, list[int]] = {}
        self._sentences: dict[str, list[int]] = {}

    def word_of(self, hit: Hit) -> int:
        """Index of the word where ``hit`` starts, within its field."""
        starts = self._words.get(hit.field)
        if starts is None:
            starts = [m.start() for m in re.finditer(r"\w+", self.texts.get(hit.field, ""))]
            self._words[hit.field] = starts
        return bisect.bisect_right(starts, hit.start)

    def sentence_of(self, hit: Hit) -> int:
        """Index of the sentence holding ``hit``, within its field."""
        ends = self._sentences.get(hit.field)
        if ends is None:
            ends = [m.end() for m in _SENTENCE_END.finditer(self.texts.get(hit.field, ""))]
            self._sentences[hit.field] = ends
        return bisect.bisect_right(ends, hit.start)


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
        found = [[h for h in hits if req.test(h)] for req in self.requirements]
        if not all(found):
            return None
        if self.scope == "story" and self.near is None:
            if any(a.test(h) for a in self.none for h in hits):
                return None
            return _unique(h for group in found for h in group)
        return self._find_in_units(evidence, hits, found)

    def _find_in_units(
        self, evidence: Evidence, hits: list[Hit], found: list[list[Hit]]
    ) -> tuple[Hit, ...] | None:
        unit_of = self._unit_key(evidence)
        for unit in dict.fromkeys(unit_of(h) for h in found[0]):
            groups = [[h for h in group if unit_of(h) == unit] for group in found]
            if not all(groups):
                continue
            if any(a.test(h) for a in self.none for h in hits if unit_of(h) == unit):
                continue
            if self.near is None:
                return _unique(h for group in groups for h in group)
            window = _window(groups, evidence.word_of, self.near)
            if window is not None:
                return window
        return None

    def _unit_key(self, evidence: Evidence) -> Callable[[Hit], Hashable]:
        if self.scope == "sentence":
            return lambda h: (h.field, evidence.sentence_of(h))
        return lambda h: h.field


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


# --- compiling YAML -------------------------------------------------------------------------


def parse_topics(value: Any, where: Where) -> list[Topic]:
    """The ``topics`` mapping of a rule file: id → description, max_severity."""
    topics = []
    for key, spec in mapping(value, where).items():
        topic_where = where.at(str(key))
        body = mapping(spec or {}, topic_where, ("description", "max_severity"))
        sev = choice(
            body.get("max_severity", "critical"), topic_where.at("max_severity"), SEVERITIES
        )
        description = text(
            body.get("description", ""), topic_where.at("description"), allow_empty=True
        )
        topics.append(Topic(ident(key, topic_where), description, Severity.parse(sev)))
    return topics


def parse_rule(
    spec: Any,
    where: Where,
    vocab: Vocabulary,
    topics: Mapping[str, Topic],
    default_topic: str | None,
) -> Rule:
    """Compile one rule mapping; raise ``ConfigError`` naming file, rule id and the problem."""
    body = mapping(spec, where, RULE_KEYS)
    if "id" not in body:
        raise where.error("rule has no 'id'")
    rule_id = ident(body["id"], where.at("id"))
    where = Where(where.file, f"rules[{rule_id}]")
    topic = body.get("topic", default_topic)
    if topic is None:
        raise where.error(f"rule {rule_id!r} has no 'topic' (and the file sets no default)")
    if topic not in topics:
        known = ", ".join(sorted(topics)) or "none declared"
        raise where.at("topic").error(f"rule {rule_id!r}: unknown topic {topic!r} (known: {known})")
    condition = parse_condition(body, where, vocab)
    if not condition.requirements:
        raise where.error(f"rule {rule_id!r} needs at least one 'all' or 'any' condition")
    also = _sub_conditions(body, "also", where, vocab)
    unless = _sub_conditions(body, "unless", where, vocab)
    boosts = tuple(
        _parse_boost(item, where.at("boost").at(i), vocab)
        for i, item in enumerate(sequence(body.get("boost"), where.at("boost")))
    )
    cap = choice(body.get("max_severity", "critical"), where.at("max_severity"), SEVERITIES)
    return Rule(
        id=rule_id,
        topic=str(topic),
        description=text(body.get("description", ""), where.at("description"), allow_empty=True),
        condition=condition,
        also=also,
        unless=unless,
        weight=number(body.get("weight", 2.0), where.at("weight"), minimum=0),
        boosts=boosts,
        max_severity=min(Severity.parse(cap), topics[str(topic)].max_severity),
        source=where.file,
    )


def parse_condition(body: Mapping[str, Any], where: Where, vocab: Vocabulary) -> Condition:
    """The condition keys of a rule or of an ``unless`` entry."""
    all_atoms = _atoms(body.get("all"), where.at("all"), vocab)
    any_atoms = _atoms(body.get("any"), where.at("any"), vocab)
    none_atoms = _atoms(body.get("none"), where.at("none"), vocab)
    near = None
    if body.get("near") is not None:
        near = int(number(body["near"], where.at("near"), minimum=1))
    scope = choice(body.get("scope", "story"), where.at("scope"), SCOPES)
    fields = None
    if body.get("fields") is not None:
        fields = _fields(body["fields"], where.at("fields"))
    requirements = list(all_atoms)
    if any_atoms:
        label = "any(" + " | ".join(a.label for a in any_atoms) + ")"
        requirements.append(Atom(label=label, alternatives=any_atoms))
    return Condition(
        all_atoms, any_atoms, none_atoms, near, scope, fields, requirements=tuple(requirements)
    )


def _sub_conditions(
    body: Mapping[str, Any], key: str, where: Where, vocab: Vocabulary
) -> tuple[Condition, ...]:
    items = sequence(body.get(key), where.at(key))
    return tuple(_parse_sub(item, where.at(key).at(i), vocab) for i, item in enumerate(items))


def _parse_sub(item: Any, where: Where, vocab: Vocabulary) -> Condition:
    """An ``also`` or ``unless`` entry: a whole condition, or a single atom."""
    body = mapping(item, where)
    if set(body) & {"all", "any", "none"}:
        mapping(body, where, CONDITION_KEYS)
        return parse_condition(body, where, vocab)
    atom = parse_atom(body, where, vocab)
    return Condition(all=(atom,), requirements=(atom,))


def _parse_boost(item: Any, where: Where, vocab: Vocabulary) -> tuple[Atom, float]:
    body = dict(mapping(item, where, (*ATOM_KEYS, "weight")))
    if "weight" not in body:
        raise where.error("boost has no 'weight'")
    weight = number(body.pop("weight"), where.at("weight"))
    return parse_atom(body, where, vocab), weight


def _atoms(value: Any, where: Where, vocab: Vocabulary) -> tuple[Atom, ...]:
    return tuple(
        parse_atom(item, where.at(i), vocab) for i, item in enumerate(sequence(value, where))
    )


def parse_atom(value: Any, where: Where, vocab: Vocabulary) -> Atom:
    """One hit test: ``{side: russia}``, ``{terms: [arms, munitions]}``, ``{any: [...]}`` ..."""
    body = mapping(value, where, ATOM_KEYS)
    if not set(body) - {"fields"}:
        raise where.error("empty condition: give side, type, entity, terms or any")
    fields = _fields(body["fields"], where.at("fields")) if "fields" in body else None
    if "any" in body:
        if len(set(body) - {"fields"}) > 1:
            raise where.error("'any' inside a condition cannot be combined with other keys")
        alternatives = _atoms(body["any"], where.at("any"), vocab)
        label = "any(" + " | ".join(a.label for a in alternatives) + ")"
        return Atom(label=label, fields=fields, alternatives=alternatives)
    sides = _names(body, "side", where, frozenset(("dprk", "russia", "other")), "side")
    types = _names(body, "type", where, vocab.entity_types, "entity type")
    entities = _names(body, "entity", where, vocab.entities, "entity")
    terms = _names(body, "terms", where, vocab.term_lists, "term list")
    kind = choice(body["kind"], where.at("kind"), ("entity", "term")) if "kind" in body else None
    if terms is not None and (sides or types or entities):
        raise where.error("'terms' cannot be combined with side, type or entity in one condition")
    label = " ".join(
        f"{key}={'/'.join(sorted(map(str, sequence(body[key], where))))}"
        for key in ("side", "type", "entity", "terms", "kind", "fields")
        if key in body
    )
    return Atom(label, kind, sides, types, entities, terms, fields)


def _names(
    body: Mapping[str, Any], key: str, where: Where, known: frozenset[str], what: str
) -> frozenset[str] | None:
    if key not in body:
        return None
    names = [text(v, where.at(key)) for v in sequence(body[key], where.at(key))]
    if not names:
        raise where.at(key).error(f"empty {what} list")
    for name in names:
        if name not in known:
            hint = ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "")
            raise where.at(key).error(f"unknown {what} {name!r} (known: {hint})")
    return frozenset(names)


def _fields(value: Any, where: Where) -> frozenset[str]:
    return frozenset(choice(v, where, FIELDS) for v in sequence(value, where))
