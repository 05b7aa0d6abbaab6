"""Golden stories for the bundled detection pack: each rule's intended hits and near misses.

The stories live in tests/fixtures/detect/golden.yaml (written for these tests). The pack is
compiled straight from config/watchlists and config/rules, as config.py does at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.detect.assess import assess
from monitor.detect.match import Pack, compile_pack
from monitor.models import Severity
from tests.detect_support import sources, story

FIXTURES = Path(__file__).parent.parent / "fixtures" / "detect"
GOLDEN = FIXTURES / "golden.yaml"
# Invented vessels with IMO numbers (imported from vessels-sample.csv), for the IMO stories.
VESSELS = FIXTURES / "vessels.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(GOLDEN.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pack() -> Pack:
    return pack_with_vessels()


def pack_with_vessels() -> Pack:
    """The bundled pack plus the invented vessels, compiled as config.py would."""
    vessels = (str(VESSELS), yaml.safe_load(VESSELS.read_text(encoding="utf-8")))
    return compile_pack(watchlists=[*sources("watchlists"), vessels], rules=sources("rules"))


def _level(name: str) -> int:
    return 0 if name == "none" else int(Severity.parse(name))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_story(pack: Pack, case: dict[str, Any]) -> None:
    s = story(case["title"], case.get("summary", ""))
    assessment = assess(s, pack.match(s), pack)
    expect = case["expect"]
    level = int(assessment.severity) if assessment.severity else 0
    fired = set(assessment.rule_ids)
    paths = [m.path for m in assessment.matches]
    detail = f"fired {sorted(fired)} at {assessment.severity}; paths {paths}"
    for rule_id in expect.get("rules", []):
        assert rule_id in fired, detail
    if "min" in expect:
        assert level >= _level(expect["min"]), detail
    if "max" in expect:
        assert level <= _level(expect["max"]), detail


def test_every_rule_has_a_golden_story(pack: Pack) -> None:
    covered = {r for case in CASES for r in case["expect"].get("rules", [])}
    missing = {rule.id for rule in pack.rules} - covered
    assert not missing


def test_seed_explanation_names_both_sides_goods_and_sanctions(pack: Pack) -> None:
    seed = next(c for c in CASES if c["name"] == "seed-aurus-gift")
    s = story(seed["title"])
    assessment = assess(s, pack.match(s), pack)
    top = assessment.top
    assert top is not None and top.severity >= Severity.HIGH
    russia = {h.text for h in top.hits if h.side == "russia"}
    dprk = {h.text for h in top.hits if h.side == "dprk"}
    goods = {h.text.lower() for h in top.hits if h.ref == "vehicles"}
    context = {h.ref for h in top.hits if h.kind == "term"}
    assert "Putin" in russia
    assert "Kim Jong Un" in dprk
    assert {"car", "vehicles"} <= goods
    assert "sanctions" in context
    assert any("HS 86-89" in (h.label or "") for h in top.hits)
