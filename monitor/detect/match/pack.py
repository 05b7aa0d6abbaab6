"""The detection pack: watchlists and rules compiled once, matched against every story.

For ``config`` (which reads the YAML files and calls ``compile_pack``), the pipeline (which
calls ``pack.match(story)`` then ``assess``) and the CLI (``check-config`` prints
``pack.summary()``). Compiling validates everything; a bad file raises ``ConfigError`` naming
the file, the entry and what is wrong, so the process exits 2 at start-up, never mid-poll.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from monitor.detect.match.gazetteer import Entity, Gazetteer, parse_entities
from monitor.detect.match.rule_parser import Vocabulary, parse_rule, parse_topics
from monitor.detect.match.rules import SEVERITIES, Rule, RuleIndex, Topic
from monitor.detect.match.schema import Where, ident, mapping, number, sequence
from monitor.detect.match.terms import TermList, parse_term_lists
from monitor.errors import ConfigError
from monitor.models import Hit, Severity, Story

WATCHLIST_KEYS = ("watchlist", "description", "source", "entities", "term_lists")
RULE_FILE_KEYS = ("description", "topic", "topics", "thresholds", "rules", "term_lists")
DEFAULT_THRESHOLDS: Mapping[Severity, float] = {
    Severity.LOW: 1.0,
    Severity.MEDIUM: 2.0,
    Severity.HIGH: 3.0,
    Severity.CRITICAL: 4.0,
}

Source = tuple[str, Any]


@dataclass(frozen=True)
class Pack:
    """Compiled watchlists and the enabled rules; ``match`` is pure and cheap per story."""

    gazetteer: Gazetteer
    rules: tuple[Rule, ...]
    topics: tuple[str, ...]
    entities: Mapping[str, Entity]
    term_lists: Mapping[str, TermList]
    thresholds: tuple[tuple[Severity, float], ...]
    all_topics: Mapping[str, Topic] = field(default_factory=dict)
    disabled_rules: int = 0

    def match(self, story: Story) -> tuple[Hit, ...]:
        """Every entity and term hit in the story's title, summary and content."""
        scan = self.gazetteer.scan
        return (
            *scan("title", story.title),
            *scan("summary", story.summary),
            *scan("content", story.content),
        )

    @cached_property
    def masking_lists(self) -> frozenset[str]:
        """Ids of the term lists whose hits hide the shorter terms inside them."""
        return frozenset(t.id for t in self.term_lists.values() if t.masks)

    @cached_property
    def rule_index(self) -> RuleIndex:
        """The enabled rules filed by the facts they need (built on first use)."""
        return RuleIndex(self.rules)

    def severity_of(self, score: float) -> Severity | None:
        """The highest severity whose threshold ``score`` reaches, or None below ``low``."""
        reached = [sev for sev, threshold in self.thresholds if score >= threshold]
        return max(reached, default=None)

    def summary(self) -> dict[str, int]:
        """Counts for ``check-config``."""
        return {
            "entities": len(self.entities),
            "aliases": self.gazetteer.alias_count,
            "term_lists": len(self.term_lists),
            "rules": len(self.rules),
            "topics": len(self.topics),
        }


def compile_pack(
    *,
    watchlists: Iterable[Source],
    rules: Sequence[Source],
    disabled_topics: Collection[str] = frozenset(),
) -> Pack:
    """Validate and compile watchlist and rule files (``(path, parsed YAML)`` pairs).

    ``watchlists`` is read once, in order, so it may be a generator that parses each file as
    it is needed (the config load does: one file's YAML alive at a time)."""
    entities: dict[str, Entity] = {}
    term_lists: dict[str, TermList] = {}
    for path, data in watchlists:
        body = mapping(_non_empty(data, path), Where(path, ""), WATCHLIST_KEYS)
        for entity in parse_entities(body.get("entities"), Where(path, "entities")):
            _add_unique(
                entities, entity.id, entity, Where(path, f"entities[{entity.id}]"), "entity"
            )
        _add_term_lists(term_lists, body.get("term_lists"), path)
    topics, thresholds = _topics_and_thresholds(rules)
    for path, data in rules:
        _add_term_lists(term_lists, mapping(data, Where(path, "")).get("term_lists"), path)
    vocab = Vocabulary(
        entities=frozenset(entities),
        entity_types=frozenset(e.type for e in entities.values()),
        term_lists=frozenset(term_lists),
    )
    compiled = _compile_rules(rules, vocab, topics)
    disabled = _check_disabled(disabled_topics, topics)
    enabled = tuple(r for r in compiled if r.topic not in disabled)
    return Pack(
        gazetteer=Gazetteer(list(entities.values()), list(term_lists.values())),
        rules=enabled,
        topics=tuple(t for t in topics if t not in disabled),
        entities=entities,
        term_lists=term_lists,
        thresholds=tuple(sorted(thresholds.items())),
        all_topics=topics,
        disabled_rules=len(compiled) - len(enabled),
    )


def _non_empty(data: Any, path: str) -> Any:
    if data is None:
        raise ConfigError("file is empty", file=path)
    return data


def _add_unique(table: dict[str, Any], key: str, value: Any, where: Where, what: str) -> None:
    if key in table:
        first = getattr(table[key], "source", "") or "another file"
        raise where.error(f"duplicate {what} id {key!r} (first defined in {first})")
    table[key] = value


def _add_term_lists(table: dict[str, TermList], value: Any, path: str) -> None:
    if value is None:
        return
    for term_list in parse_term_lists(value, Where(path, "term_lists")):
        _add_unique(
            table, term_list.id, term_list, Where(path, f"term_lists.{term_list.id}"), "term list"
        )


def _topics_and_thresholds(
    rules: Sequence[Source],
) -> tuple[dict[str, Topic], dict[Severity, float]]:
    topics: dict[str, Topic] = {}
    thresholds: dict[Severity, float] | None = None
    for path, data in rules:
        body = mapping(_non_empty(data, path), Where(path, ""), RULE_FILE_KEYS)
        for topic in parse_topics(body.get("topics") or {}, Where(path, "topics")):
            if topic.id in topics and topics[topic.id] != topic:
                raise Where(path, f"topics.{topic.id}").error(
                    f"topic {topic.id!r} is declared differently in another rule file"
                )
            topics[topic.id] = topic
        if body.get("thresholds") is not None:
            parsed = _thresholds(body["thresholds"], Where(path, "thresholds"))
            if thresholds is not None and parsed != thresholds:
                raise Where(path, "thresholds").error("thresholds differ from another rule file")
            thresholds = parsed
    return topics, dict(thresholds or DEFAULT_THRESHOLDS)


def _thresholds(value: Any, where: Where) -> dict[Severity, float]:
    body = mapping(value, where, SEVERITIES)
    result = dict(DEFAULT_THRESHOLDS)
    for name, raw in body.items():
        result[Severity.parse(name)] = number(raw, where.at(name), minimum=0)
    ordered = [result[s] for s in Severity]
    if ordered != sorted(ordered):
        raise where.error("thresholds must rise from low to critical")
    return result


def _compile_rules(
    rules: Sequence[Source], vocab: Vocabulary, topics: Mapping[str, Topic]
) -> list[Rule]:
    compiled: dict[str, Rule] = {}
    for path, data in rules:
        body = mapping(data, Where(path, ""))
        default_topic = ident(body["topic"], Where(path, "topic")) if "topic" in body else None
        items = sequence(body.get("rules"), Where(path, "rules"))
        for i, spec in enumerate(items):
            where = Where(path, f"rules[{i}]")
            if isinstance(spec, Mapping) and spec.get("enabled") is False:
                continue
            rule = parse_rule(spec, where, vocab, topics, default_topic)
            _add_unique(compiled, rule.id, rule, Where(path, f"rules[{rule.id}]"), "rule")
    return list(compiled.values())


def _check_disabled(disabled: Collection[str], topics: Mapping[str, Topic]) -> frozenset[str]:
    for name in disabled:
        if name not in topics:
            known = ", ".join(sorted(topics))
            raise ConfigError(
                f"unknown topic {name!r} (known: {known})", key_path="topics.disabled"
            )
    return frozenset(disabled)
