"""``evaluate`` and the ``eval`` command: counts, breakdowns, borderline items, gzip, JSON."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.models import Severity
from monitor.tools.evaluate import evaluate, within_dates
from tests.detect_support import CONFIG, bundled_pack

SAMPLE = Path(__file__).parent.parent / "fixtures" / "detect" / "eval-sample.jsonl"


def items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def test_evaluate_counts_and_breakdowns() -> None:
    report = evaluate(items(), bundled_pack(), min_severity=Severity.MEDIUM)
    o = report.overall
    # e5 (a festival mislabelled relevant) is the one miss; nothing else is wrong.
    assert (o.tp, o.fp, o.fn, o.tn) == (4, 0, 1, 4)
    assert o.precision == 1.0 and o.recall == pytest.approx(0.8)
    assert report.by_lang["ko"].tp == 1 and report.by_lang["ru"].tn == 1
    assert report.by_category["arms"].fn == 1
    assert report.borderline_skipped == 1 and report.borderline_flagged == 1
    assert [e.id for e in report.errors if e.kind == "fn"] == ["e5"]


def test_include_borderline_counts_it() -> None:
    report = evaluate(
        items(), bundled_pack(), min_severity=Severity.MEDIUM, include_borderline=True
    )
    assert report.overall.fp == 1 and report.borderline_skipped == 0


def test_min_severity_changes_what_counts_as_flagged() -> None:
    report = evaluate(items(), bundled_pack(), min_severity=Severity.CRITICAL)
    assert report.overall.tp < 4


def test_progress_is_called() -> None:
    seen: list[int] = []
    evaluate(items(), bundled_pack(), min_severity=Severity.MEDIUM, progress=seen.append)
    assert seen == [0, len(items())]  # the last call reports every item: the bar ends full


def write_config(tmp_path: Path, min_severity: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"watchlists: ['{CONFIG / 'watchlists'}/*.yaml']\n"
        f"rules: ['{CONFIG / 'rules'}/*.yaml']\n"
        f"destinations:\n  - {{id: c, type: console, min_severity: {min_severity}}}\n",
        encoding="utf-8",
    )
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_cli_json_keys_and_gzip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "medium")
    plain = run_json(capsys, "--config", str(config), "eval", str(SAMPLE), "--json")
    for key in ("precision", "recall", "f1", "tp", "fp", "fn", "tn", "by_lang", "by_category"):
        assert key in plain
    packed = tmp_path / "sample.jsonl.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    zipped = run_json(capsys, "--config", str(config), "eval", str(packed), "--json")
    assert {k: zipped[k] for k in ("tp", "fp", "fn", "tn")} == {
        k: plain[k] for k in ("tp", "fp", "fn", "tn")
    }


def test_cli_default_min_severity_is_lowest_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    low = run_json(
        capsys, "--config", str(write_config(tmp_path, "low")), "eval", str(SAMPLE), "--json"
    )
    assert low["min_severity"] == "low"
    forced = run_json(
        capsys, "--config", str(write_config(tmp_path, "low")), "eval", str(SAMPLE),
        "--json", "--min-severity", "high",
    )  # fmt: skip
    assert forced["min_severity"] == "high"


def test_cli_table_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "medium")
    assert main(["--config", str(config), "eval", str(SAMPLE), "--show-errors"]) == 0
    out = capsys.readouterr().out
    assert "FN" in out and "e5" in out and "overall" in out and "lang ko" in out


def test_cli_bad_line_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "x", "label": "relevant"}\nnot json\n', encoding="utf-8")
    assert main(["--config", str(write_config(tmp_path, "medium")), "eval", str(bad)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def dated(*days: str) -> list[dict[str, Any]]:
    return [{"id": f"d{i}", "date": day, "title": "x", "label": "not_relevant"} for i, day in
            enumerate(days)]  # fmt: skip


def test_within_dates_keeps_inclusive_bounds_and_drops_undated() -> None:
    rows = dated("2023-04-30T23:59:00Z", "2023-05-01T00:00:00Z", "2023-06-30T12:00:00Z", "")
    kept = within_dates(rows, since="2023-05-01", until="2023-06-30")
    assert [r["id"] for r in kept] == ["d1", "d2"]
    assert [r["id"] for r in within_dates(rows)] == ["d0", "d1", "d2", "d3"]
    assert [r["id"] for r in within_dates(rows, until="2023-04-30")] == ["d0"]


def test_cli_since_until_restrict_the_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    for i, row in enumerate(rows):
        row["date"] = f"2023-0{1 + i % 6}-15T08:00:00Z"
    path = tmp_path / "dated.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = str(write_config(tmp_path, "medium"))
    window = ("--since", "2023-05-01", "--until", "2023-06-30")
    out = run_json(capsys, "--config", config, "eval", str(path), "--json", *window)
    assert out["items"] == sum(r["date"] >= "2023-05" for r in rows)


def test_cli_bad_day_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(write_config(tmp_path, "medium")), "eval", str(SAMPLE),
              "--since", "2023-13-01"])  # fmt: skip
    assert exc.value.code == 2
    assert "not a day" in capsys.readouterr().err


def test_header_counts_agree_with_the_table_and_errors_explain_misses() -> None:
    report = evaluate(items(), bundled_pack(), min_severity=Severity.MEDIUM)
    header = report.format_table().splitlines()[0]
    o = report.overall
    assert header.startswith(f"items {o.total}, flagged {o.tp + o.fp} ")
    (miss,) = [e for e in report.errors if e.kind == "fn"]
    assert miss.closest and miss.closest[0].missing  # the closest rule and what it lacks
    shown = report.format_errors()
    assert "why not: " in shown and "BORDERLINE(" in shown


def test_cli_json_carries_the_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "--config", str(write_config(tmp_path, "medium")), "eval",
                   str(SAMPLE), "--json")  # fmt: skip
    by_id = {e["id"]: e for e in out["errors"]}
    assert by_id["e5"]["kind"] == "fn" and by_id["e5"]["label"] == "relevant"
    assert by_id["e5"]["closest_rule"] and by_id["e5"]["missing"]
    assert {"id", "title", "label", "severity", "rules", "closest_rule", "missing"} <= set(
        by_id["e5"]
    )
