"""The project's parse path over a folder of real feed files, as a Markdown table (issue 5 point 9).

    .venv/bin/python bench/parse_files.py [DIR]        (default: ../shared/feeds)

Each file goes through exactly what a fetched body goes through (``ProcessParser`` → worker
→ ``parse_feed``), as ``sanctions-monitor parse-files DIR`` does; this script adds the time per
file and prints Markdown for bench/README.md. A file that fails gets its error in the table;
nothing crashes the run.

Then the pre-scan's corpus check (issue 16 point 2, ``tests/detect/prescan_check.py``): each
file is parsed whole as today, and again by a parser that remembers every item but the first
from an earlier poll and parses only what is new. It prints, per file, the items the pre-scan
found beside feedparser's stories, how many the second parse skipped, whether it fell back to
the whole body, and whether its stories were today's (same key set, identical stories).
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.cli.feeds import _parse_one, _read_body
from monitor.detect.parse_pool import ProcessParser
from monitor.errors import MonitorError
from monitor.models import FeedSpec, FetchResult
from tests.detect.prescan_check import check_body

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "feeds"


async def run(folder: Path) -> list[dict[str, Any]]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    parser = ProcessParser(time_limit_s=10.0)
    rows = []
    try:
        for path in files:
            started = time.perf_counter()
            row = await _parse_one(parser, path)
            row["ms"] = (time.perf_counter() - started) * 1000
            rows.append(row)
    finally:
        parser.close()
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| file | format | stories | with link | dated | encoding | ms | note / error |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for r in rows:
        note = f"**error:** {r['error']}" if r["error"] else (r["note"] or "")
        note = note.replace("|", "\\|")[:110]
        lines.append(
            f"| {r['file']} | {r['format'] or '-'} | {r['entries']} | {r['with_link']} | "
            f"{r['dated']} | {r['encoding'] or '-'} | {r['ms']:.0f} | {note} |"
        )
    failed = sum(1 for r in rows if r["error"])
    stories = sum(r["entries"] for r in rows)
    lines.append("")
    lines.append(
        f"{len(rows)} files: {len(rows) - failed} parsed ({stories} stories), "
        f"{failed} refused with a reason, 0 crashes."
    )
    return "\n".join(lines)


async def corpus_check(folder: Path) -> str:
    """The pre-scan equivalence check over every file, as Markdown."""
    lines = [
        "| file | items found | feedparser stories | skipped | fell back | equivalent |",
        "|---|---:|---:|---:|---|---|",
    ]
    bad = 0
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        spec = FeedSpec(id=path.name, url=f"https://files.invalid/{path.name}")
        try:
            body = _read_body(path, spec)
        except (OSError, MonitorError) as exc:
            lines.append(f"| {path.name} | - | - | - | - | unreadable ({exc}) |")
            continue
        result = FetchResult(spec.id, spec.url, 200, body, fetched_at=datetime.now(UTC))
        verdict = await check_body(result, spec)
        bad += not verdict.ok
        found = "refused" if verdict.items is None else str(verdict.items)
        same = "yes" if verdict.ok else "**no**: " + "; ".join(verdict.problems)
        lines.append(
            f"| {path.name} | {found} | {verdict.entries} | {verdict.skipped} | "
            f"{'yes' if verdict.fell_back else 'no'} | {same} |"
        )
    lines += ["", f"pre-scan corpus check: {len(lines) - 2} files, {bad} not equivalent."]
    return "\n".join(lines)


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    if not folder.is_dir():
        print(f"parse_files: {folder} is not a folder", file=sys.stderr)
        return 2
    print(markdown(asyncio.run(run(folder))))
    print()
    print(asyncio.run(corpus_check(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
