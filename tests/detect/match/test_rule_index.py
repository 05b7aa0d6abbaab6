"""The rule index: skipping rules that cannot fire must never skip one that would."""

from __future__ import annotations

import random

from monitor.detect.match.evidence import Evidence
from monitor.detect.match.rules import Atom, RuleIndex
from monitor.models import Hit
from tests.detect_support import bundled_pack


def _random_hits(rnd: random.Random) -> list[Hit]:
    pack = bundled_pack()
    entities = list(pack.entities.values())
    term_lists = list(pack.term_lists)
    hits = []
    for i in range(rnd.randint(0, 8)):
        field = rnd.choice(("title", "summary"))
        start = rnd.randint(0, 40) + 10 * i
        if rnd.random() < 0.5:
            e = rnd.choice(entities)
            hits.append(Hit("entity", e.id, "x", field, start, start + 3, e.side, e.type))
        else:
            hits.append(Hit("term", rnd.choice(term_lists), "x", field, start, start + 3))
    return hits


def test_indexed_rules_fire_exactly_as_all_rules_do() -> None:
    pack = bundled_pack()
    rnd = random.Random(3)
    fired_any = 0
    for _ in range(1500):
        hits = _random_hits(rnd)
        text = " ".join(["word"] * 60) + ". " + " ".join(["word"] * 60)
        evidence = Evidence({"title": text, "summary": text, "content": ""}, hits)
        every = [r.id for r in pack.rules if r.evaluate(evidence, pack.severity_of)]
        chosen = pack.rule_index.candidates(evidence)
        indexed = [r.id for r in chosen if r.evaluate(evidence, pack.severity_of)]
        assert indexed == every
        assert len(chosen) <= len(pack.rules)
        fired_any += bool(every)
    assert fired_any > 50  # the sample does exercise rules that fire


def test_triggers_of_atoms() -> None:
    assert Atom("t", terms=frozenset({"arms"})).triggers() == {("ref", "arms")}
    assert Atom("s", sides=frozenset({"dprk"}), types=frozenset({"state"})).triggers() == {
        ("side", "dprk")
    }
    either = Atom("a", alternatives=(Atom("x", entities=frozenset({"kcna"})), Atom("y")))
    assert either.triggers() is None  # one alternative needs nothing: no gate
    assert Atom("k", kind="term").triggers() is None


def test_ungated_rules_are_always_candidates() -> None:
    pack = bundled_pack()
    ungated = RuleIndex(pack.rules)
    evidence = Evidence({"title": "", "summary": "", "content": ""}, [])
    # With no hits, only rules without a gated requirement remain, and none of them fires.
    remaining = ungated.candidates(evidence)
    assert all(r.evaluate(evidence, pack.severity_of) is None for r in remaining)
    assert len(remaining) < len(pack.rules)
