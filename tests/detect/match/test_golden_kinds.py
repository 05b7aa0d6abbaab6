"""Issue 12's golden stories per kind of breach story, and IMO numbers.

The stories sit in tests/fixtures/detect/golden.yaml (tests/detect/test_assess_golden.py runs
each one against the bundled pack plus the invented vessels of vessels.yaml); here: every kind
has three English stories that alert, two English near misses that stay silent at medium, and
one Korean and one Russian story that alert (all kinds but vessels by IMO number).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.detect.match import compile_pack
from monitor.detect.match.imo import imo_numbers, valid_imo
from monitor.errors import ConfigError
from monitor.tools.importers import import_list

FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "detect"
CASES: list[dict[str, Any]] = yaml.safe_load((FIXTURES / "golden.yaml").read_text("utf-8"))
KINDS = (
    *("procurement", "enforcement", "crypto-theft", "revenue-abroad", "smuggling-shipping"),
    *("luxury-goods", "arms-third-parties", "missiles-in-strikes", "vessel-imo"),
)
_MEDIUM = ("medium", "high", "critical")


def _alerts(case: dict[str, Any]) -> bool:
    return case["expect"].get("min") in _MEDIUM


def _silent(case: dict[str, Any]) -> bool:
    return case["expect"].get("max") in ("none", "low")


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_has_its_golden_stories(kind: str) -> None:
    mine = [c for c in CASES if c.get("kind") == kind]
    counts = Counter(
        (c["lang"], "near" if c.get("near_miss") else "alert")
        for c in mine
        if (_silent(c) if c.get("near_miss") else _alerts(c))
    )
    assert counts["en", "alert"] >= 3 and counts["en", "near"] >= 2, counts
    if kind != "vessel-imo":
        assert counts["ko", "alert"] >= 1 and counts["ru", "alert"] >= 1, counts


@pytest.mark.parametrize(
    ("number", "valid"),
    [("9074729", True), ("9123453", True), ("8003216", True), ("9074728", False),
     ("907472", False), ("90747290", False), ("abcdefg", False)],
)  # fmt: skip
def test_imo_check_digit(number: str, valid: bool) -> None:
    assert valid_imo(number) is valid


def test_imo_numbers_in_text_keep_only_valid_ones() -> None:
    text = "IMO 9074729, IMO No. 9123453, IMO: 9123454 and imo number 8003216"
    assert imo_numbers(text) == ["9074729", "9123453", "8003216"]


def test_a_bad_imo_in_a_watchlist_is_a_config_error() -> None:
    watchlist = {"entities": [{"id": "v", "type": "vessel", "aliases": ["V"], "imo": ["9074728"]}]}
    with pytest.raises(ConfigError, match="IMO number") as exc:
        compile_pack(watchlists=[("w.yaml", watchlist)], rules=[])
    assert "w.yaml" in str(exc.value) and "entities[v].imo" in str(exc.value)


def test_importer_keeps_valid_imo_numbers_and_the_vessel_matches_by_number() -> None:
    result = import_list("opensanctions-csv", FIXTURES / "vessels-sample.csv", regime="KP")
    data = yaml.safe_load(result.yaml_text)
    numbers = {e["label"]: e.get("imo") for e in data["entities"]}
    assert numbers == {"EXAMPLE PIONEER": ["9123453"], "SAMPLE HARMONY 3": ["8003216"],
                       "TEST BADCHECK": None}  # fmt: skip
    assert data == yaml.safe_load((FIXTURES / "vessels.yaml").read_text("utf-8"))
    pack = compile_pack(watchlists=[("v.yaml", data)], rules=[])
    hits = pack.gazetteer.scan("title", "Tanker (IMO No. 9123453) and IMO 9123454 seen")
    assert [(h.ref, h.text) for h in hits] == [("op-nk-vessel-0001", "IMO No. 9123453")]


def test_un_list_entry_with_an_imo_in_its_comments_becomes_a_vessel(tmp_path: Path) -> None:
    xml = tmp_path / "un.xml"
    xml.write_text(
        "<CONSOLIDATED_LIST><INDIVIDUALS/><ENTITIES><ENTITY>"
        "<FIRST_NAME>EXAMPLE CARRIER</FIRST_NAME><UN_LIST_TYPE>DPRK</UN_LIST_TYPE>"
        "<REFERENCE_NUMBER>KPe.990</REFERENCE_NUMBER>"
        "<COMMENTS1>Oil tanker. IMO: 9074729. Flag: unknown.</COMMENTS1>"
        "</ENTITY></ENTITIES></CONSOLIDATED_LIST>",
        encoding="utf-8",
    )
    (entity,) = yaml.safe_load(import_list("un-xml", xml, regime="KP").yaml_text)["entities"]
    assert (entity["type"], entity["imo"], entity["side"]) == ("vessel", ["9074729"], "dprk")
