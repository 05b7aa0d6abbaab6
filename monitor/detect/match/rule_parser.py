"""Compiling rule YAML into ``rules`` objects: topics, rules, conditions, atoms.

For ``pack`` (which calls ``parse_topics`` and ``parse_rule`` per rule file) and rule authors
(docs/rules.md is the reference). Every shape problem raises ``ConfigError`` naming the file,
the rule id and the key path; the compiled objects are evaluated by ``rules``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from monitor.detect.match.rules import FIELDS, SCOPES, SEVERITIES, Atom, Condition, Rule, Topic
from monitor.detect.match.schema import Where, choice, ident, mapping, number, sequence, text
from monitor.models import Severity

ATOM_KEYS = ("side", "type", "entity", "terms", "fields", "any", "kind")
PART_FLAGS = ("anywhere", "anchor")
CONDITION_KEYS = ("all", "any", "none", "near", "scope", "fields")
RULE_KEYS = (
    *CONDITION_KEYS,
    *("id", "topic", "description", "weight", "boost", "also", "unless", "max_severity"),
    "enabled",
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What rules may refer to: the ids the watchlists define."""

    entities: frozenset[str]
    entity_types: frozenset[str]
    term_lists: frozenset[str]


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
    topic = ident(body["topic"], where.at("topic")) if "topic" in body else default_topic
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
    all_atoms = _atoms(body.get("all"), where.at("all"), vocab, parts=True)
    any_atoms = _atoms(body.get("any"), where.at("any"), vocab)
    none_atoms = _atoms(body.get("none"), where.at("none"), vocab)
    near = None
    if body.get("near") is not None:
        near = int(number(body["near"], where.at("near"), minimum=1))
    scope = choice(body.get("scope", "story"), where.at("scope"), SCOPES)
    fields = None
    if body.get("fields") is not None:
        fields = _fields(body["fields"], where.at("fields"))
    _check_parts(all_atoms, near, where.at("all"))
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


def _check_parts(atoms: tuple[Atom, ...], near: int | None, where: Where) -> None:
    """An anchor needs ``near`` and is unique; a part cannot be both anchor and anywhere."""
    anchors = [a for a in atoms if a.anchor]
    if len(anchors) > 1:
        raise where.error("only one part of 'all' may be the anchor")
    if anchors and near is None:
        raise where.error("'anchor' measures 'near' from one part: give 'near: N' too")
    if anchors and anchors[0].anywhere:
        raise where.error("the anchor cannot also be 'anywhere'")
    if atoms and all(a.anywhere for a in atoms):
        raise where.error("every part is 'anywhere': drop 'anywhere' and use 'scope: story'")


def _atoms(value: Any, where: Where, vocab: Vocabulary, *, parts: bool = False) -> tuple[Atom, ...]:
    return tuple(
        _part(item, where.at(i), vocab) if parts else parse_atom(item, where.at(i), vocab)
        for i, item in enumerate(sequence(value, where))
    )


def _part(value: Any, where: Where, vocab: Vocabulary) -> Atom:
    """A part of ``all``: an atom, optionally ``anywhere: true`` (any field, any unit of the
    story, outside ``near`` and ``scope``) or ``anchor: true`` (``near`` is measured from it)."""
    body = dict(mapping(value, where, (*ATOM_KEYS, *PART_FLAGS)))
    flags = {key: _flag(body.pop(key), where.at(key)) for key in PART_FLAGS if key in body}
    atom = parse_atom(body, where, vocab)
    if not flags:
        return atom
    label = atom.label + "".join(f" ({key})" for key, on in flags.items() if on)
    return replace(
        atom, label=label, anywhere=flags.get("anywhere", False), anchor=flags.get("anchor", False)
    )


def _flag(value: Any, where: Where) -> bool:
    if not isinstance(value, bool):
        raise where.error(f"expected true or false, got {value!r}")
    return value


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
