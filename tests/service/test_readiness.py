"""``/readyz`` (``Runtime.ready``): ready when the scheduler runs and the state is writable, with
the feeds currently ok counted but not waited for, and no filesystem path in the body."""

from __future__ import annotations

import json
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.models import FeedState
from monitor.service.app import Runtime
from monitor.service.config import load_config
from tests.support import write_config

NOW = datetime(2026, 12, 4, tzinfo=UTC)


class _Store:
    def __init__(self, states: list[FeedState], *, writable: bool = True) -> None:
        self.states = states
        self.writable = writable

    def check_writable(self) -> None:
        if not self.writable:
            raise StoreError("state: read-only file system")

    def feed_states(self) -> list[FeedState]:
        return self.states


def _runtime(tmp_path: Path, store: _Store, *, running: bool) -> Runtime:
    feeds = [{"id": f, "url": f"https://{f}.example/rss"} for f in ("a", "b", "c")]
    settings = load_config(write_config(tmp_path, feeds=feeds, destinations=[]))
    runtime = Runtime(settings, build_app=lambda s: None)
    runtime.app = types.SimpleNamespace(store=store)
    runtime.daemon = types.SimpleNamespace(  # type: ignore[assignment]
        scheduler=types.SimpleNamespace(running=running),
        feeds={"a": 1, "b": 2, "c": 3},
        cycles_done=0,
    )
    return runtime


def _ok(feed_id: str) -> FeedState:
    return FeedState(feed_id, health="ok", last_success_at=NOW, last_attempt_at=NOW)


def test_ready_before_any_feed_succeeds_and_feeds_ok_counts_them(tmp_path: Path) -> None:
    ok, body = _runtime(tmp_path, _Store([]), running=True).ready()
    assert ok and body["feeds"] == 3 and body["feeds_ok"] == 0
    failing = FeedState("b", health="failing", consecutive_failures=2, last_success_at=NOW)
    unknown = _ok("not-configured")
    ok, body = _runtime(tmp_path, _Store([_ok("a"), failing, unknown]), running=True).ready()
    assert ok and body["feeds_ok"] == 1


def test_not_ready_when_the_scheduler_stops_or_the_state_is_read_only(tmp_path: Path) -> None:
    ok, body = _runtime(tmp_path, _Store([]), running=False).ready()
    assert not ok and body["scheduler_running"] is False
    ok, body = _runtime(tmp_path, _Store([], writable=False), running=True).ready()
    assert not ok and body["state_writable"] is False


def test_the_body_carries_no_filesystem_path(tmp_path: Path) -> None:
    _, body = _runtime(tmp_path, _Store([_ok("a")]), running=True).ready()
    text: Any = json.dumps(body)
    assert str(tmp_path) not in text and "/" not in text
