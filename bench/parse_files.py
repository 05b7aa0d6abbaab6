"""The project's parse path over a folder of real feed files, as a Markdown table (issue 5 point 9).

    .venv/bin/python bench/parse_files.py [DIR]        (default: ../shared/feeds)

Each file goes through exactly what a fetched body goes through (``ProcessParser`` → worker
→ ``parse_feed``), as ``sanctions-monitor parse-files DIR`` does; this script adds the time per
file and prints Markdown for bench/README.md. A file that fails gets its error in the table;
nothing crashes the run.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.cli.feeds import _parse_one
from monitor.detect.parse_pool import ProcessParser

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


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    if not folder.is_dir():
        print(f"parse_files: {folder} is not a folder", file=sys.stderr)
        return 2
    print(markdown(asyncio.run(run(folder))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
