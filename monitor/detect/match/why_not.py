"""Why a story was not flagged: the rules that came closest and the part each one lacks.

For rule authors, through ``explain`` (a story that no rule flags) and ``eval --show-errors``
(every miss). Pure and slow on purpose (every rule is tried in full, no index), so it runs
only for the stories someone asked about, never in the daemon's per-story path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.detect.match.evidence import Evidence
from monitor.detect.match.rules import Condition, Rule
from monitor.models import Severity


@dataclass(frozen=True, slots=True)
class NearMiss:
    """One rule that did not flag the story: how many of its parts held and what it lacks."""

    rule_id: str
    met: int
    total: int
    missing: str

    def describe(self) -> str:
        return f"{self.rule_id} ({self.met}/{self.total}): {self.missing}"


def near_misses(
    rules: Sequence[Rule],
    evidence: Evidence,
    severity_of: Callable[[float], Severity | None],
    *,
    min_severity: Severity = Severity.LOW,
    limit: int = 3,
) -> list[NearMiss]:
    """The ``limit`` rules closest to flagging ``evidence`` at ``min_severity``, closest first.

    A rule that flags the story is no near miss and is left out; rules that lack every part
    are left out too (nothing to say about them).
    """
    found = [
        miss for rule in rules if (miss := _diagnose(rule, evidence, severity_of, min_severity))
    ]
    found = [m for m in found if m.met > 0]
    found.sort(key=lambda m: (-m.met / m.total, -m.total, m.rule_id))
    return found[:limit]


def _diagnose(
    rule: Rule,
    evidence: Evidence,
    severity_of: Callable[[float], Severity | None],
    min_severity: Severity,
) -> NearMiss | None:
    conditions = (rule.condition, *rule.also)
    total = sum(len(c.requirements) for c in conditions) + 1  # +1: the score
    met = 0
    for index, condition in enumerate(conditions):
        prefix = "also " if index else ""
        lacking = _lacking(condition, evidence)
        met += len(condition.requirements) - len(lacking)
        if lacking:
            return NearMiss(rule.id, met, total, prefix + "lacks " + "; ".join(lacking))
        if condition.find(evidence) is None:
            return NearMiss(rule.id, met - 1, total, prefix + _apart(condition))
    if any(cond.find(evidence) is not None for cond in rule.unless):
        return NearMiss(rule.id, met, total, "an 'unless' exception holds")
    match = rule.evaluate(evidence, severity_of)
    if match is not None and match.severity >= min_severity:
        return None
    shown = f"{match.severity} (score {match.score:g})" if match else "below low"
    return NearMiss(rule.id, met, total, f"scores {shown}, under {min_severity}")


def _lacking(condition: Condition, evidence: Evidence) -> list[str]:
    hits = [h for h in evidence.hits if condition.fields is None or h.field in condition.fields]
    groups = condition.candidates(evidence, hits)
    return [
        req.label for req, group in zip(condition.requirements, groups, strict=True) if not group
    ]


def _apart(condition: Condition) -> str:
    """Every part has a hit, so they are too far apart (or a ``none`` part is present)."""
    where = f"one {condition.scope}" if condition.scope != "story" else "one field"
    reach = f" within {condition.near} words" if condition.near is not None else ""
    blocked = " (or a 'none' part is present)" if condition.none else ""
    return f"every part is present but not together in {where}{reach}{blocked}"
