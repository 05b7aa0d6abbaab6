"""``sanctions-monitor feeds`` and ``parse-files``: how every feed is doing, and the parse path
run over a folder of feed files (operator and maintainer commands).

    feeds [--json]            every configured feed: health, last status, last success, last
                              error, consecutive failures, next poll, new items per day (7 days)
    parse-files DIR [--json]  per file: format, entries, encoding, bozo note or error; never
                              crashes on a bad file (gzip files are inflated with a cap first)

Exit codes: 0 done, 2 bad config or a DIR that is not a folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.clock import SystemClock
from monitor.detect.fetch import BodyTooLarge, BoundedDecoder
from monitor.detect.parse_pool import ProcessParser
from monitor.errors import FetchError, ParseError
from monitor.models import FeedLease, FeedSpec, FeedState, FetchResult
from monitor.service.observability import configure_logging
from monitor.state.open import StateUrl, open_store

RATE_WINDOW = timedelta(days=7)
MAX_FILE_BYTES = 20_000_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feeds = sub.add_parser("feeds", help="a table of every feed with its polling state")
    feeds.add_argument("--json", action="store_true", help="JSON instead of a table")
    feeds.set_defaults(func=cmd_feeds)
    files = sub.add_parser("parse-files", help="run the parse path over a folder of feed files")
    files.add_argument("dir", metavar="DIR", help="folder of feed files (.xml, .rss, .atom, .gz …)")
    files.add_argument("--json", action="store_true", help="JSON instead of a table")
    files.add_argument(
        "--time-limit",
        type=float,
        default=10.0,
        metavar="S",
        help="parse time limit per file, seconds (default 10)",
    )
    files.set_defaults(func=cmd_parse_files)


# --- feeds -------------------------------------------------------------------------------------


def cmd_feeds(args: argparse.Namespace) -> int:
    from monitor.cli.common import cli_config

    settings = cli_config(args)
    now = SystemClock().now()
    rows = feed_rows(settings.feeds, settings.state_url, now=now)
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print(feeds_table(rows, now))
    return 0


def feed_rows(
    feeds: Sequence[FeedSpec], state: Path | StateUrl, *, now: datetime
) -> list[dict[str, Any]]:
    """One row per configured feed (in config order), then feeds the store knows but the config
    no longer lists. A missing state file means every feed is ``new`` (and is not created)."""
    where = state if isinstance(state, StateUrl) else StateUrl("sqlite", str(state))
    states, per_week, held = _read_states(where, now)
    rows = [_feed_row(spec, states.pop(spec.id, FeedState(spec.id)), per_week) for spec in feeds]
    rows += [_feed_row(None, state, per_week) for state in states.values()]
    for row in rows:  # who polls the feed (a replica's lease), and until when
        lease = held.get(row["id"])
        row["lease_owner"] = lease.owner if lease else None
        row["lease_until"] = _iso(lease.until) if lease else None
    return rows


def _read_states(
    where: StateUrl, now: datetime
) -> tuple[dict[str, FeedState], dict[str, int], dict[str, FeedLease]]:
    """Feed states, 7-day story counts and feed leases (a missing SQLite file: none)."""
    if where.kind == "sqlite" and not where.path.exists():
        return {}, {}, {}
    store = open_store(where, migrate=False)
    try:
        states = {s.feed_id: s for s in store.feed_states()}
        return states, store.story_counts_since(now - RATE_WINDOW), store.feed_leases()
    finally:
        store.close()


def _feed_row(spec: FeedSpec | None, state: FeedState, per_week: dict[str, int]) -> dict[str, Any]:
    """One feed as plain data (the JSON form; the table is drawn from it)."""
    return {
        "id": state.feed_id,
        "name": spec.name if spec else None,
        "url": spec.url if spec else None,
        "configured": spec is not None,
        "interval_s": spec.interval_s if spec else None,
        "health": state.health,
        "last_status": state.last_status,
        "last_attempt_at": _iso(state.last_attempt_at),
        "last_success_at": _iso(state.last_success_at),
        "last_new_item_at": _iso(state.last_new_item_at),
        "last_error": state.last_error,
        "consecutive_failures": state.consecutive_failures,
        "next_poll_at": _iso(state.next_poll_at),
        "items_seen": state.items_seen,
        "items_per_day": round(per_week.get(state.feed_id, 0) / RATE_WINDOW.days, 2),
        "etag": state.etag,
        "last_modified": state.last_modified,
    }


def feeds_table(rows: Sequence[dict[str, Any]], now: datetime) -> str:
    """The ``feeds`` table: one line per feed, times relative to ``now``."""
    header = (
        "FEED",
        "NAME",
        "HEALTH",
        "STATUS",
        "LAST OK",
        "FAILS",
        "NEXT POLL",
        "ITEMS/DAY",
        "LAST ERROR",
    )
    body = [
        (
            row["id"] + ("" if row["configured"] else " (not in config)"),
            _clip(row["name"] or "-", 30),
            row["health"],
            str(row["last_status"] or "-"),
            _ago(row["last_success_at"], now),
            str(row["consecutive_failures"]),
            _until(row["next_poll_at"], now),
            f"{row['items_per_day']:g}",
            _clip(row["last_error"] or "", 60),
        )
        for row in rows
    ]
    return _table(header, body) + f"\n{len(rows)} feeds"


# --- parse-files -------------------------------------------------------------------------------


def cmd_parse_files(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if not folder.is_dir():
        print(f"sanctions-monitor: parse-files: {folder} is not a folder", file=sys.stderr)
        return 2
    # Warnings (a parse that overran) go to stderr, so the table or JSON on stdout stays clean;
    # the real stream, as a test's captured sys.stderr is closed after the test.
    configure_logging(json=False, level="WARNING", stream=sys.__stderr__ or sys.stderr)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    rows = asyncio.run(_parse_all(files, time_limit_s=args.time_limit))
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print(parse_files_table(rows))
    return 0


async def _parse_all(files: Sequence[Path], *, time_limit_s: float) -> list[dict[str, Any]]:
    parser = ProcessParser(time_limit_s=time_limit_s)
    try:
        return [await _parse_one(parser, path) for path in files]
    finally:
        parser.close()


async def _parse_one(parser: ProcessParser, path: Path) -> dict[str, Any]:
    """One file through the same path a fetched body takes; failures become a row, not a crash."""
    row: dict[str, Any] = {
        "file": path.name,
        "format": None,
        "entries": 0,
        "encoding": None,
        "with_link": 0,
        "dated": 0,
        "note": None,
        "error": None,
    }
    spec = FeedSpec(id=path.name, url=path.resolve().as_uri())
    try:
        body = _read_body(path, spec)
        result = FetchResult(
            feed_id=spec.id,
            url=f"https://files.invalid/{path.name}",
            status=200,
            body=body,
            fetched_at=datetime.now(UTC),
        )
        parsed = await parser.parse(result, spec)
    except (OSError, FetchError, ParseError) as exc:
        row["error"] = getattr(exc, "reason", None) or str(exc)
        return row
    row.update(
        format=parsed.version,
        entries=len(parsed.stories),
        encoding=parsed.encoding,
        with_link=sum(1 for s in parsed.stories if s.url),
        dated=sum(1 for s in parsed.stories if s.published_at),
        note=parsed.bozo,
    )
    return row


def _read_body(path: Path, spec: FeedSpec) -> bytes:
    """The file's bytes; ``.gz`` inflated through the fetcher's bounded decoder."""
    raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
    if len(raw) > MAX_FILE_BYTES:
        raise FetchError(spec.id, f"file over {MAX_FILE_BYTES} bytes")
    if not raw.startswith(b"\x1f\x8b"):
        return raw
    decoder = BoundedDecoder(["gzip"], max_bytes=MAX_FILE_BYTES)
    try:
        return decoder.feed(raw) + decoder.flush()
    except BodyTooLarge as exc:
        raise FetchError(spec.id, f"inflates past {MAX_FILE_BYTES} bytes") from exc
    except Exception as exc:  # zlib.error and friends: a corrupt archive is just a bad file
        raise FetchError(spec.id, f"corrupt gzip ({exc})") from exc


def parse_files_table(rows: Sequence[dict[str, Any]]) -> str:
    """The ``parse-files`` table (also pasted into bench/README.md)."""
    header = ("FILE", "FORMAT", "STORIES", "LINKS", "DATED", "ENCODING", "NOTE / ERROR")
    body = [
        (
            r["file"],
            r["format"] or "-",
            str(r["entries"]),
            str(r["with_link"]),
            str(r["dated"]),
            r["encoding"] or "-",
            _clip(("ERROR: " + r["error"]) if r["error"] else (r["note"] or ""), 70),
        )
        for r in rows
    ]
    failed = sum(1 for r in rows if r["error"])
    return (
        _table(header, body) + f"\n{len(rows)} files, {len(rows) - failed} parsed, {failed} failed"
    )


# --- formatting --------------------------------------------------------------------------------


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body, strict=True)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *body)
    ]
    return "\n".join(lines)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ago(iso: str | None, now: datetime) -> str:
    return (
        "never"
        if iso is None
        else _span((now - datetime.fromisoformat(iso)).total_seconds()) + " ago"
    )


def _until(iso: str | None, now: datetime) -> str:
    if iso is None:
        return "due"
    seconds = (datetime.fromisoformat(iso) - now).total_seconds()
    return "due" if seconds <= 0 else "in " + _span(seconds)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
