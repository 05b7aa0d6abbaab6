"""``explain``: highlighted spans, entity or term per span, rule path, score; the CLI."""

from __future__ import annotations

import io
import json

import pytest

from monitor.cli import main
from monitor.detect.assess import assess
from monitor.tools.explain import format_explanation, highlight
from tests.detect_support import bundled_pack, story

SEED = (
    "Putin gave Kim Jong Un a Russian-made Aurus car; Seoul says UN resolutions ban "
    "supplying North Korea with vehicles under HS codes 86 to 89"
)


def test_explanation_of_the_seed_story() -> None:
    pack = bundled_pack()
    s = story(SEED)
    text = format_explanation(s, assess(s, pack.match(s), pack), color=False)
    assert text.startswith("severity: high")
    assert "rule dprk > ru-dprk.vehicles-luxury" in text
    assert "[Putin] [gave] [Kim Jong Un]" in text
    assert "entity vladimir-putin (Vladimir Putin; person, side russia)" in text
    assert "entity kim-jong-un" in text
    assert "term vehicles (vehicles (HS 86-89))" in text
    assert 'boost terms=sanctions +1: "UN resolutions"' in text
    assert "score 3.5 -> high" in text


def test_colour_and_no_match() -> None:
    pack = bundled_pack()
    s = story("Kim Kardashian buys a car")
    text = format_explanation(s, assess(s, pack.match(s), pack), color=True)
    assert text.startswith("severity: none")
    assert "\x1b[" in text


def test_highlight_merges_overlaps_and_skips_bad_spans() -> None:
    pack = bundled_pack()
    s = story("New UN Security Council resolutions")
    hits = [*pack.match(s)]
    assert len(hits) > 2  # overlapping: the long phrase and "Security Council" inside it
    assert highlight(s.title, hits, color=False) == "New [UN Security Council resolutions]"


def test_cli_explain_with_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--title", SEED, "--color", "never"]) == 0
    assert "ru-dprk.vehicles-luxury" in capsys.readouterr().out


def test_cli_explain_json_story_on_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    story_json = json.dumps({"title": "КНДР поставила России снаряды", "summary": ""})
    monkeypatch.setattr("sys.stdin", io.StringIO(story_json))
    assert main(["explain", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["severity"] == "high"
    assert {h["text"] for h in out["hits"]} >= {"КНДР", "России", "снаряды"}


def test_cli_explain_rejects_bad_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("not json"))
    assert main(["explain"]) == 2
    assert "JSON" in capsys.readouterr().err
