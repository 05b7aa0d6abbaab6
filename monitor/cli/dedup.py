"""Dedup commands: ``eval-dedup`` measures copy detection on labeled pairs of stories.

Argument parsing and output only; the figures come from ``monitor.tools.evaluate_dedup``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monitor.detect import similar
from monitor.tools.evaluate_dedup import evaluate_pairs, read_pairs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev = sub.add_parser(
        "eval-dedup", help="measure copy detection (precision, recall, F1) on labeled pairs"
    )
    ev.add_argument("file", help="JSON lines: a, b (title, summary, outlet, url, date), label")
    ev.add_argument(
        "--threshold",
        type=_threshold,
        default=similar.DEFAULT_THRESHOLD,
        help=f"similarity at or above which a pair is a copy (default {similar.DEFAULT_THRESHOLD})",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_eval_dedup)


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threshold: {text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"--threshold: {value:g} is not in (0, 1]")
    return value


def cmd_eval_dedup(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        with path.open(encoding="utf-8") as handle:
            pairs, skipped = read_pairs(handle, str(path))
    except OSError as exc:
        print(f"sanctions-monitor: eval-dedup: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except (ValueError, UnicodeDecodeError) as exc:
        print(f"sanctions-monitor: eval-dedup: {exc}", file=sys.stderr)
        return 2
    if not pairs:
        print(f"sanctions-monitor: eval-dedup: {path}: no labeled pairs", file=sys.stderr)
        return 2
    report = evaluate_pairs(pairs, threshold=args.threshold, source=str(path), skipped=skipped)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(report.format_table())
    return 0
