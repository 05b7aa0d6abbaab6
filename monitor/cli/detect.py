"""Detection commands: ``explain``, ``eval`` and ``import-list``.

``explain`` shows how the configured pack judges one story; ``eval`` measures the pack on a
labelled JSON-lines file (plain or gzip); ``import-list`` turns a UN Security Council
consolidated list (XML) or an OpenSanctions ``targets.simple.csv`` into a watchlist file.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from monitor.detect.assess import assess, why_not
from monitor.detect.match import Pack
from monitor.detect.match.why_not import NearMiss
from monitor.errors import MonitorError, UsageError
from monitor.models import Severity, Story
from monitor.tools.evaluate import evaluate, within_dates
from monitor.tools.explain import format_explanation


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = sub.add_parser(
        "explain", help="show how the rules judge one story (or a JSON story on stdin)"
    )
    explain.add_argument("--title", help="the story's title (omit to read a JSON story on stdin)")
    explain.add_argument("--summary", default="", help="the story's summary")
    explain.add_argument("--content", default="", help="the story's full text, if any")
    explain.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    explain.add_argument("--json", action="store_true", help="print the assessment as JSON")
    explain.set_defaults(func=cmd_explain, print_usage=explain.print_usage)

    ev = sub.add_parser("eval", help="measure precision and recall on labelled JSON lines")
    ev.add_argument("file", help="JSON lines (plain or .gz): title, summary, label, lang ...")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--show-errors", action="store_true", help="list false alarms and misses")
    ev.add_argument(
        "--min-severity",
        choices=[str(s) for s in Severity],
        help="flag at this severity or above (default: lowest destination min_severity)",
    )
    ev.add_argument("--include-borderline", action="store_true", help="count borderline items too")
    ev.add_argument("--since", type=_day, help="only items dated on or after this day (YYYY-MM-DD)")
    ev.add_argument(
        "--until", type=_day, help="only items dated on or before this day (YYYY-MM-DD)"
    )
    ev.set_defaults(func=cmd_eval)

    imp = sub.add_parser("import-list", help="turn a sanctions list into a watchlist YAML file")
    imp.add_argument("--format", required=True, choices=("un-xml", "opensanctions-csv"))
    imp.add_argument("input", help="the list file (UN consolidated XML or targets.simple.csv)")
    imp.add_argument("-o", "--output", required=True, help="watchlist YAML to write")
    imp.add_argument(
        "--regime",
        default="KP",
        help="UN reference prefix to keep (KP = DPRK; 'all' keeps every regime)",
    )
    imp.add_argument(
        "--side",
        default="auto",
        choices=("auto", "dprk", "russia", "other"),
        help="side of imported entities (auto: DPRK regime or country kp -> dprk, ru -> russia)",
    )
    imp.set_defaults(func=cmd_import_list)


def _day(value: str) -> str:
    """A ``YYYY-MM-DD`` argument, checked so a typo is an error rather than an empty run."""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {value!r}") from None


# --- loading the pack -------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Any:
    from monitor.cli.common import cli_config

    return cli_config(args)


def _pack(settings: Any) -> Pack:
    pack: Pack = settings.pack  # compiled by load_config (the parsed YAML is not kept)
    return pack


def default_min_severity(settings: Any) -> Severity:
    """The lowest ``min_severity`` among configured destinations, else medium."""
    levels = [d.min_severity for d in getattr(settings, "destinations", ())]
    return min(levels, default=Severity.MEDIUM)


# --- explain -----------------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    if args.title is None and sys.stdin.isatty():
        # Nothing given and nothing piped: say how to call it instead of waiting on the terminal.
        args.print_usage(sys.stderr)
        print(
            "explain: give --title (and --summary, --content), or pipe one JSON story on stdin,"
            ' e.g. echo \'{"title": "...", "summary": "..."}\' | sanctions-monitor explain',
            file=sys.stderr,
        )
        return 2
    story = _story_from_args(args)
    settings = _settings(args)
    pack = _pack(settings)
    hits = pack.match(story)
    assessment = assess(story, hits, pack)
    floor = default_min_severity(settings)
    flagged = assessment.severity is not None and assessment.severity >= floor
    misses = [] if flagged else why_not(story, hits, pack, min_severity=floor)
    if args.json:
        out = _assessment_json(assessment)
        out["closest_rules"] = [_miss_json(m) for m in misses]
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(format_explanation(story, assessment, color=color, near_misses=misses))
    return 0


def _miss_json(miss: NearMiss) -> dict[str, Any]:
    return {"rule_id": miss.rule_id, "met": miss.met, "total": miss.total, "missing": miss.missing}


def _story_from_args(args: argparse.Namespace) -> Story:
    if args.title is not None:
        raw: dict[str, Any] = {
            "title": args.title,
            "summary": args.summary,
            "content": args.content,
        }
    else:
        try:
            raw = json.loads(sys.stdin.read())
        except json.JSONDecodeError as exc:
            raise UsageError(f"explain: stdin is not a JSON story: {exc}") from None
        if not isinstance(raw, dict):
            raise UsageError("explain: stdin must hold one JSON object with title, summary")
    return Story(
        feed_id=str(raw.get("feed_id") or "explain"),
        title=str(raw.get("title") or ""),
        summary=str(raw.get("summary") or ""),
        content=str(raw.get("content") or ""),
        url=raw.get("url"),
        fetched_at=datetime.now(UTC),
        key=str(raw.get("id") or "explain"),
    )


def _assessment_json(assessment: Any) -> dict[str, Any]:
    return {
        "severity": str(assessment.severity) if assessment.severity else None,
        "score": assessment.score,
        "rules": [
            {
                "rule_id": m.rule_id,
                "topic": m.topic,
                "score": m.score,
                "severity": str(m.severity),
                "path": list(m.path),
            }
            for m in assessment.matches
        ],
        "hits": [
            {
                "kind": h.kind,
                "ref": h.ref,
                "label": h.label,
                "text": h.text,
                "field": h.field,
                "start": h.start,
                "end": h.end,
                "side": h.side,
                "weak": h.weak,
            }
            for h in assessment.hits
        ],
    }


# --- eval ---------------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    settings = _settings(args)
    pack = _pack(settings)
    if args.min_severity:
        min_severity = Severity.parse(args.min_severity)
    else:
        min_severity = default_min_severity(settings)
    path = Path(args.file)
    try:
        size = path.stat().st_size
        raw = path.open("rb")
    except OSError as exc:
        print(f"sanctions-monitor: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with raw:
        bar = _Progress(raw, size) if size > 2_000_000 and sys.stderr.isatty() else None
        try:
            items = within_dates(_json_lines(raw, path), since=args.since, until=args.until)
            report = evaluate(
                items,
                pack,
                min_severity=min_severity,
                include_borderline=args.include_borderline,
                progress=bar.update if bar else None,
            )
        except ValueError as exc:
            print(f"sanctions-monitor: {exc}", file=sys.stderr)
            return 2
        if bar:
            bar.done()
    elapsed_s = time.perf_counter() - started
    if args.json:
        out = report.to_dict()
        out["elapsed_s"] = round(elapsed_s, 2)
        print(json.dumps(out, ensure_ascii=False))
    else:
        if args.show_errors and report.errors:
            print(report.format_errors())
            print()
        print(report.format_table())
        print(f"({report.items} items in {elapsed_s:.1f} s)")
    return 0


def _json_lines(raw: IO[bytes], path: Path) -> Iterator[dict[str, Any]]:
    """Decode JSON lines from a plain or gzip file; a bad line raises ``ValueError``."""
    head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    stream: IO[bytes] = raw
    if head == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
    for number, line in enumerate(io.TextIOWrapper(stream, encoding="utf-8"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object")
        yield item


class _Progress:
    """A one-line progress bar on stderr, driven by how far the raw file has been read."""

    def __init__(self, raw: IO[bytes], size: int) -> None:
        self.raw = raw
        self.size = max(size, 1)
        self.started = time.perf_counter()
        self.items = 0

    def update(self, items: int) -> None:
        self.items = items
        self._draw(min(self.raw.tell() / self.size, 1.0), items)

    def _draw(self, done: float, items: int) -> None:
        filled = int(done * 30)
        elapsed_s = time.perf_counter() - self.started
        bar = "#" * filled + "-" * (30 - filled)
        sys.stderr.write(f"\r[{bar}] {done:5.1%} {items:>8} items {elapsed_s:5.1f} s")
        sys.stderr.flush()

    def done(self) -> None:
        """Draw the bar full (the whole file was read) and end its line."""
        self._draw(1.0, self.items)
        sys.stderr.write("\n")
        sys.stderr.flush()


# --- import-list -------------------------------------------------------------------------------


def cmd_import_list(args: argparse.Namespace) -> int:
    import yaml

    from monitor.detect.match import compile_pack
    from monitor.tools.importers import import_list

    try:
        result = import_list(args.format, Path(args.input), regime=args.regime, side=args.side)
        # What we write must load: compile it exactly as check-config would.
        compile_pack(watchlists=[(args.output, yaml.safe_load(result.yaml_text))], rules=[])
    except MonitorError as exc:
        print(f"sanctions-monitor: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(result.yaml_text, encoding="utf-8")
    os.replace(tmp, out)
    print(
        f"wrote {out}: {result.entities} entities, {result.aliases} aliases"
        f" ({result.skipped} skipped)"
    )
    return 0
