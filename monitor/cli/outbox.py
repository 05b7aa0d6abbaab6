"""``sanctions-monitor outbox …``: inspect and replay the alert outbox (operator commands).

    outbox list [--status pending|sent|dead] [--destination D] [--limit N] [--json]
    outbox show ID [--json]
    outbox retry ID [ID …]            make rows due now, even in backoff (and re-enable their
                                      destinations)
    outbox retry --dead [--destination D]
    outbox resend --as-new ID [ID …]  queue a copy under a new key (``<key>~resend-N``: a new
                                      ``webhook-id``, for receivers that deduplicate)
    outbox purge --older-than 30d     delete sent rows (``--sent`` may be given; it changes nothing)
    outbox enable DESTINATION         re-enable a destination without requeueing

The state store comes from the config (``state.url`` / ``state.path``), or ``--state URL`` (a
SQLite path, ``sqlite:///PATH`` or ``postgresql://…``) to skip the config.
Exit codes: 0 done, 1 nothing matched (unknown id, nothing to retry), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from monitor.clock import SystemClock
from monitor.deliver.render.text import clean, clip
from monitor.deliver.render.webhook import webhook_body
from monitor.models import OutboxEntry
from monitor.ports import StateStore
from monitor.state.open import open_store as open_state
from monitor.state.open import parse_state_url

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = sub.add_parser("outbox", help="inspect and replay queued, sent and dead alerts")
    actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    actions.required = True

    show_list = actions.add_parser("list", help="a table of outbox rows, newest first")
    show_list.add_argument("--status", choices=("pending", "sent", "dead"))
    show_list.add_argument("--destination", metavar="ID")
    show_list.add_argument("--limit", type=int, default=50)
    show_list.add_argument("--json", action="store_true", help="one JSON object per row")
    show_list.set_defaults(func=cmd_list)

    show = actions.add_parser("show", help="one row in full, with the alert")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)

    retry = actions.add_parser(
        "retry", help="make rows due now, even in backoff (re-enables their destinations)"
    )
    retry.add_argument("ids", type=int, nargs="*", metavar="ID")
    retry.add_argument("--dead", action="store_true", help="every dead row")
    retry.add_argument("--destination", metavar="ID", help="with --dead: only this destination")
    retry.set_defaults(func=cmd_retry)

    resend = actions.add_parser(
        "resend", help="queue a copy of rows under a new key (a new webhook-id)"
    )
    resend.add_argument("ids", type=int, nargs="+", metavar="ID")
    resend.add_argument(
        "--as-new",
        action="store_true",
        required=True,
        help="the copy's key carries a resend counter, so receivers that dedup show it",
    )
    resend.set_defaults(func=cmd_resend)

    purge = actions.add_parser("purge", help="delete sent rows older than a duration")
    purge.add_argument(
        "--sent", action="store_true", help="purge sent rows (the default and only kind)"
    )
    purge.add_argument(
        "--older-than",
        required=True,
        type=parse_duration,
        metavar="DURATION",
        help="e.g. 30d, 12h, 90m",
    )
    purge.set_defaults(func=cmd_purge)

    enable = actions.add_parser("enable", help="re-enable a disabled destination")
    enable.add_argument("destination")
    enable.set_defaults(func=cmd_enable)


def parse_duration(text: str) -> timedelta:
    """``30d`` → 30 days (units s, m, h, d, w); argparse turns the ValueError into exit 2."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 30d, 12h, 90m)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])


@contextmanager
def open_store(args: argparse.Namespace) -> Iterator[StateStore]:
    """The state store named by ``--state``, else by the config's ``state.url`` / ``.path``."""
    if args.state:
        where = parse_state_url(args.state)
    else:  # imported here: loading the config compiles the detection pack, not needed with --state
        from monitor.cli.common import cli_config

        where = cli_config(args).state_url
    store = open_state(where, migrate=False)
    try:
        yield store
    finally:
        store.close()


# --- commands ------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        limit = args.limit if not args.destination else max(args.limit * 20, 1000)
        rows = [
            e
            for e in store.outbox(args.status, limit=limit)
            if not args.destination or e.destination_id == args.destination
        ][: args.limit]
        if args.json:
            for entry in rows:
                print(json.dumps(entry_summary(entry), ensure_ascii=False))
            return 0
        print(format_counts(store.outbox_counts(), store.disabled_destinations()))
        print(format_table(rows, now=SystemClock().now()) if rows else "(no rows)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        entry = store.outbox_entry(args.id)
        if entry is None:
            print(f"outbox: no row {args.id}", file=sys.stderr)
            return 1
        disabled = store.disabled_destinations().get(entry.destination_id)
    if args.json:
        print(
            json.dumps(
                {**entry_summary(entry), "payload": webhook_body(entry.alert)},
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    print(format_entry(entry, disabled_reason=disabled))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.dead):
        print("outbox retry: give row ids, or --dead", file=sys.stderr)
        return 2
    now = SystemClock().now()
    with open_store(args) as store:
        if args.dead:
            dead = store.outbox("dead", limit=1_000_000)
            rows = [e for e in dead if not args.destination or e.destination_id == args.destination]
        else:
            found = [store.outbox_entry(i) for i in args.ids]
            rows = [e for e in found if e is not None]
        count = store.requeue([e.id for e in rows], now)
        enabled = _enable_destinations(store, {e.destination_id for e in rows})
    for dest, reason in enabled:
        print(f"re-enabled destination {dest} (was disabled: {reason})")
    print(f"requeued {count} row(s); the running daemon sends them on its next pass")
    return 0 if count else 1


def cmd_resend(args: argparse.Namespace) -> int:
    now = SystemClock().now()
    missing = 0
    with open_store(args) as store:
        for entry_id in args.ids:
            copy = store.resend_as_new(entry_id, now)
            if copy is None:
                print(f"outbox: no row {entry_id}", file=sys.stderr)
                missing += 1
                continue
            print(f"queued row {copy.id} as a new copy of row {entry_id} (key {copy.alert.key})")
    return 1 if missing else 0


def cmd_purge(args: argparse.Namespace) -> int:
    cutoff = SystemClock().now() - args.older_than
    with open_store(args) as store:
        count = store.purge_sent(cutoff)
    print(f"purged {count} sent row(s) sent before {cutoff:%Y-%m-%d %H:%M} UTC")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        enabled = _enable_destinations(store, {args.destination})
    if not enabled:
        print(f"destination {args.destination} is not disabled")
        return 1
    print(f"re-enabled destination {args.destination}")
    return 0


def _enable_destinations(store: StateStore, destinations: set[str]) -> list[tuple[str, str]]:
    disabled = store.disabled_destinations()
    enabled = [(dest, disabled[dest]) for dest in sorted(destinations) if dest in disabled]
    for dest, _ in enabled:
        store.enable_destination(dest)
    return enabled


# --- formatting ----------------------------------------------------------------------------------


def entry_summary(entry: OutboxEntry) -> dict[str, Any]:
    """The row as JSON-friendly values (``list --json``, ``show --json``)."""
    alert = entry.alert
    return {
        "id": entry.id,
        "status": entry.status,
        "destination": entry.destination_id,
        "alert_key": alert.key,
        "severity": str(alert.severity),
        "rule_id": alert.rule_id,
        "title": alert.story.title,
        "url": alert.story.url,
        "attempts": entry.attempts,
        "created_at": entry.created_at.isoformat(),
        "next_attempt_at": entry.next_attempt_at.isoformat(),
        "sent_at": entry.sent_at.isoformat() if entry.sent_at else None,
        "last_error": entry.last_error,
        "fallback_sent": entry.fallback_sent,
    }


def format_counts(counts: dict[str, int], disabled: dict[str, str]) -> str:
    line = "outbox: " + "  ".join(
        f"{status} {counts.get(status, 0)}" for status in ("pending", "sent", "dead")
    )
    lines = [line] + [
        f"DISABLED destination {dest}: {reason}" for dest, reason in sorted(disabled.items())
    ]
    return "\n".join(lines) + "\n"


def ago(delta: timedelta) -> str:
    """``3m``, ``5h``, ``2d`` (the largest unit that fits)."""
    seconds = abs(delta.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _when(entry: OutboxEntry, now: datetime) -> str:
    if entry.status == "sent" and entry.sent_at:
        return f"sent {ago(now - entry.sent_at)} ago"
    if entry.status == "pending":
        return (
            "due now"
            if entry.next_attempt_at <= now
            else f"next in {ago(entry.next_attempt_at - now)}"
        )
    return "dead"


def format_table(rows: Sequence[OutboxEntry], *, now: datetime) -> str:
    """An aligned text table; titles and errors are clipped to keep one row per line."""
    header = ("ID", "STATUS", "DESTINATION", "SEV", "TRIES", "AGE", "WHEN", "TITLE", "LAST ERROR")
    table = [header] + [
        (
            str(e.id),
            e.status,
            e.destination_id,
            str(e.alert.severity),
            str(e.attempts),
            ago(now - e.created_at),
            _when(e, now),
            clip(clean(e.alert.story.title), 48),
            clip(clean(e.last_error), 70) if e.last_error else "",
        )
        for e in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in table
    ).rstrip()


def format_entry(entry: OutboxEntry, *, disabled_reason: str | None) -> str:
    alert = entry.alert
    story = alert.story
    pairs = [
        ("id", str(entry.id)),
        ("status", entry.status),
        (
            "destination",
            entry.destination_id + (f" (DISABLED: {disabled_reason})" if disabled_reason else ""),
        ),
        ("alert key", alert.key),
        ("severity", f"{alert.severity} (score {alert.score:.1f})"),
        ("rules", ", ".join(alert.rule_ids or (alert.rule_id,))),
        ("title", clean(story.title)),
        ("url", clean(story.url) or "-"),
        ("feed", f"{story.feed_id} ({clean(story.outlet) or '-'})"),
        ("published", story.published_at.isoformat() if story.published_at else "-"),
        ("queued", entry.created_at.isoformat()),
        ("attempts", str(entry.attempts)),
        ("next attempt", entry.next_attempt_at.isoformat() if entry.status == "pending" else "-"),
        ("sent", entry.sent_at.isoformat() if entry.sent_at else "-"),
        ("fallback sent", "yes" if entry.fallback_sent else "no"),
        ("last error", clean(entry.last_error) or "-"),
    ]
    width = max(len(name) for name, _ in pairs)
    return "\n".join(f"{name.rjust(width)}: {value}" for name, value in pairs)
