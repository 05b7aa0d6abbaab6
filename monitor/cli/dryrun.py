"""``sanctions-monitor once --dry-run``: fetch and judge every feed, print what would alert, and
change nothing (for an operator trying a new rule, feed or destination filter).

The poll runs through the real pipeline (fetch, parse, dedup, match, assess, route) against a
throwaway copy of the state in a temporary folder, so stories already seen are still known and
conditional requests still send their validators; the copy is deleted afterwards. The real
state is only read: no story is marked seen, no alert is queued, and no notifier is called.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

from monitor.cli.common import load_settings
from monitor.deliver.render.text import clean, clip
from monitor.models import OutboxEntry
from monitor.service.app import build_app, build_daemon
from monitor.service.config import Settings
from monitor.service.daemon import CycleSummary

_ALL_ROWS = 1_000_000


def cmd_dry_run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    with tempfile.TemporaryDirectory(prefix="sanctions-monitor-dry-run-") as folder:
        copy = Path(folder) / "state.db"
        copy_state(settings.state_path, copy)
        summary, would = asyncio.run(_dry_poll(_with_state(settings, copy)))
    for line in would_lines(would):
        print(line)
    print(
        f"dry run: feeds ok: {summary.feeds_ok}  failed: {summary.feeds_failed}  "
        f"stories new: {summary.stories_new}  would alert: {len(would)}"
        " (nothing was marked seen, queued or sent)"
    )
    for feed_id, error in summary.failures:
        print(f"  failed {feed_id}: {error}")
    return 0


def copy_state(source: Path, target: Path) -> None:
    """A consistent copy of the state (SQLite's online backup, read-only on ``source``)."""
    if not source.exists():
        return  # a first run: the copy starts empty, as the real state would
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _with_state(settings: Settings, path: Path) -> Settings:
    state = settings.model.state.model_copy(update={"path": str(path)})
    return dataclasses.replace(settings, model=settings.model.model_copy(update={"state": state}))


async def _dry_poll(settings: Settings) -> tuple[CycleSummary, list[OutboxEntry]]:
    """Poll every feed once against the copy; the rows it queued are what would alert."""
    app = build_app(settings)
    try:
        before = max((e.id for e in app.store.outbox(limit=1)), default=0)
        daemon = build_daemon(app)
        summary = CycleSummary()
        for outcome in await daemon.poll_all():  # polls only: the worker never runs
            summary.add(outcome)
        queued = [e for e in app.store.outbox("pending", limit=_ALL_ROWS) if e.id > before]
        return summary, sorted(queued, key=lambda e: e.id)
    finally:
        await app.aclose()


def would_lines(entries: Sequence[OutboxEntry]) -> list[str]:
    """One line per alert that would be sent: destination, event, severity, title, feed, link."""
    lines = []
    for entry in entries:
        alert = entry.alert
        title = clip(clean(alert.story.title) or "(untitled story)", 100)
        link = clean(alert.story.url) or "-"
        lines.append(
            f"would alert {entry.destination_id}: {alert.event} {alert.severity}"
            f" {title} ({alert.story.feed_id}) {link}"
        )
    return lines
