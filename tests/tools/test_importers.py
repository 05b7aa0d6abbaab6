"""Sanctions lists as watchlists: UN consolidated XML and OpenSanctions CSV (invented fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import main
from monitor.detect.assess import confirm_hits
from monitor.detect.match import compile_pack
from monitor.errors import ConfigError
from monitor.tools.importers import import_list
from tests.detect_support import story

FIXTURES = Path(__file__).parent.parent / "fixtures" / "detect"
UN_XML = FIXTURES / "un-consolidated-sample.xml"
OS_CSV = FIXTURES / "opensanctions-sample.csv"


def entities(yaml_text: str) -> dict[str, dict[str, Any]]:
    return {e["refs"][0]: e for e in yaml.safe_load(yaml_text)["entities"]}


def test_un_xml_keeps_dprk_entries_aliases_and_original_script() -> None:
    result = import_list("un-xml", UN_XML)
    found = entities(result.yaml_text)
    assert set(found) == {"KPi.901", "KPe.901"}  # the QDi. entry is another regime
    person = found["KPi.901"]
    assert person["type"] == "person" and person["side"] == "dprk"
    assert {"PAEK SONG CHOL", "백성철"} <= set(person["aliases"])
    assert "Paek Song-chol" not in person["aliases"]  # the same name once folded
    assert set(person["weak"]) == {"Mr Paek", "PAEK"}  # low quality, and a short single word
    company = found["KPe.901"]
    assert company["type"] == "organisation"
    assert "고려시험무역회사" in company["aliases"] and "KTTC" in company["weak"]
    assert result.entities == 2


def test_un_xml_all_regimes() -> None:
    assert set(entities(import_list("un-xml", UN_XML, regime="all").yaml_text)) == {
        "KPi.901", "KPe.901", "QDi.999",
    }  # fmt: skip


def test_opensanctions_csv_filters_by_country_and_sets_sides() -> None:
    found = entities(import_list("opensanctions-csv", OS_CSV).yaml_text)
    assert set(found) == {"NK-test-0001", "NK-test-0002"}
    assert found["NK-test-0001"]["type"] == "vessel"
    assert "Морская Звезда" in found["NK-test-0001"]["aliases"]
    everyone = entities(import_list("opensanctions-csv", OS_CSV, regime="all").yaml_text)
    assert everyone["ru-test-0003"]["side"] == "russia"
    assert everyone["ir-test-0004"]["side"] == "other"


def test_imported_watchlist_matches_inside_stories() -> None:
    un = yaml.safe_load(import_list("un-xml", UN_XML).yaml_text)
    os_ = yaml.safe_load(import_list("opensanctions-csv", OS_CSV, regime="all").yaml_text)
    pack = compile_pack(watchlists=[("un.yaml", un), ("os.yaml", os_)], rules=[])
    s = story(
        "Paek Song-chol's firm Koryo Test Trading Co. chartered the Sea Star 7",
        summary="Встреча Ивана Тестовича Примерова с представителями компании 백성철과.",
    )
    labels = {h.label for h in confirm_hits(pack.match(s), pack)}
    assert labels >= {
        "PAEK SONG CHOL", "KORYO TEST TRADING CORPORATION", "SEA TEST STAR",
        "Ivan Testovich Primerov",
    }  # fmt: skip


def test_cli_writes_a_loadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "un.yaml"
    assert main(["import-list", "--format", "un-xml", str(UN_XML), "-o", str(out)]) == 0
    assert "2 entities" in capsys.readouterr().out
    compile_pack(watchlists=[(str(out), yaml.safe_load(out.read_text(encoding="utf-8")))], rules=[])


@pytest.mark.parametrize(
    ("fmt", "content", "words"),
    [
        ("un-xml", "<CONSOLIDATED_LIST><INDIVIDUALS>", "not well-formed"),
        ("un-xml", '<!DOCTYPE x [<!ENTITY a "b">]><x/>', "DTD"),
        ("opensanctions-csv", "name,other\nx,y\n", "missing"),
    ],
)
def test_bad_input_raises_config_error(tmp_path: Path, fmt: str, content: str, words: str) -> None:
    path = tmp_path / "input"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=words):
        import_list(fmt, path)


def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<oops", encoding="utf-8")
    assert (
        main(["import-list", "--format", "un-xml", str(bad), "-o", str(tmp_path / "o.yaml")]) == 2
    )
    assert "not well-formed" in capsys.readouterr().err
