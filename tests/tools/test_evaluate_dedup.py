"""eval-dedup: reading both pair formats, kinds computed from the texts, figures and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.models import Story
from monitor.tools.evaluate_dedup import (
    KINDS,
    LabeledPair,
    evaluate_pairs,
    pair_kind,
    read_pairs,
)
from tests.detect.test_dedup import story

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dedup"
LEDE = "Officials said the bridge would stay closed for repairs until the end of the month."


def test_reads_labels_in_both_spellings() -> None:
    lines = (FIXTURES / "pairs-sample.jsonl").read_text(encoding="utf-8").splitlines()
    pairs, skipped = read_pairs(lines, "sample")
    assert [p.is_copy for p in pairs] == [True, True, True, False, False]
    assert skipped == 0
    legacy = (FIXTURES / "pairs-legacy.jsonl").read_text(encoding="utf-8").splitlines()
    pairs, skipped = read_pairs(legacy, "legacy")
    assert [p.is_copy for p in pairs] == [True, False, False, False]
    assert skipped == 1  # "unsure"
    assert pairs[0].a.feed_id == "Alpha Wire"
    assert pairs[0].a.published_at is not None


@pytest.mark.parametrize(
    ("summary_a", "summary_b", "kind"),
    [
        (LEDE, LEDE, "same_summary"),
        (LEDE, LEDE.upper().replace(".", ""), "same_summary"),
        ("RIVERTON (Wire) - " + LEDE, LEDE, "prefix_suffix"),
        (LEDE, LEDE + " (Wire)", "prefix_suffix"),
        (LEDE, " ".join(LEDE.split()[:12]), "prefix_suffix"),
        (LEDE, "The bridge is shut while crews repair it; it may reopen next month.", "rewritten"),
        (LEDE, "", "title_only"),
        ("", "", "title_only"),
    ],
)
def test_kind_comes_from_the_summaries(summary_a: str, summary_b: str, kind: str) -> None:
    assert kind in KINDS
    assert pair_kind(story("A", summary_a), story("B", summary_b)) == kind


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "x.jsonl:1: not JSON"),
        ("[1, 2]", "x.jsonl:1: expected a JSON object"),
        ('{"a": {"title": "t"}, "b": {"title": "u"}, "label": "maybe"}', "label 'maybe'"),
        ('{"a": {"title": "t"}, "b": {"title": "u"}}', "x.jsonl:1: no label"),
        ('{"a": {"title": "t"}, "label": "copy"}', "x.jsonl:1: 'b' must be an object"),
        (
            '{"a": {"title": "t", "date": "soon"}, "b": {"title": "u"}, "label": "copy"}',
            "a.date: 'soon' is not an ISO 8601 date",
        ),
    ],
)
def test_bad_lines_name_the_file_and_line(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_pairs([line], "x.jsonl")


def _pair(a: Story, b: Story, *, is_copy: bool) -> LabeledPair:
    return LabeledPair(a, b, is_copy, pair_kind(a, b), 1)


def test_counts_follow_the_threshold_and_the_sweep_is_monotone() -> None:
    title = "City council approves new budget for road repairs after long debate"
    copy = _pair(story(title, LEDE, feed_id="one"), story(title, LEDE, feed_id="two"), is_copy=True)
    other = _pair(
        story("Storm closes schools across the valley", "Heavy rain flooded roads.", feed_id="x"),
        story("Football club signs young striker", "The club paid a record fee.", feed_id="y"),
        is_copy=False,
    )
    report = evaluate_pairs([copy, other], threshold=0.85, sweep=(0.5, 0.9))
    assert (report.overall.tp, report.overall.fp, report.overall.fn) == (1, 0, 0)
    assert report.by_kind["same_summary"].tp == 1
    assert report.by_kind["rewritten"].tn == 1
    assert [t for t, _ in report.sweep] == [0.5, 0.85, 0.9]
    recalls = [c.recall for _, c in report.sweep]
    assert recalls == sorted(recalls, reverse=True)


def test_cli_prints_a_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(FIXTURES / "pairs-sample.jsonl")
    assert main(["eval-dedup", path, "--threshold", "0.8"]) == 0
    table = capsys.readouterr().out
    assert "5 pairs (3 copy, 2 not_copy)" in table
    for kind in KINDS:
        assert f"kind {kind}" in table
    assert main(["eval-dedup", path, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pairs"] == 5
    assert set(out["by_kind"]) == set(KINDS)
    assert {"precision", "recall", "f1", "sweep", "threshold"} <= set(out)


def test_cli_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.jsonl"
    assert main(["eval-dedup", str(missing)]) == 2
    assert f"cannot read {missing}" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": {"title": "t"}, "b": {"title": "u"}, "label": "copy"}\nnope\n')
    assert main(["eval-dedup", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: not JSON" in err
    assert "Traceback" not in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["eval-dedup", str(empty)]) == 2
    assert "no labeled pairs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval-dedup", str(bad), "--threshold", "1.5"])
