"""Helpers for integration tests: config files, a movable clock, the daemon as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "config"


@dataclass
class FakeClock:
    """A clock tests move by hand (satisfies ``ports.Clock``)."""

    current: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def write_config(
    folder: Path,
    *,
    feeds: Sequence[Mapping[str, Any]],
    destinations: Sequence[Mapping[str, Any]],
    extra: Mapping[str, Any] | None = None,
    name: str = "monitor.yaml",
) -> Path:
    """A config using the bundled watchlists and rules, state under ``folder``, probes off."""
    data: dict[str, Any] = {
        "state": {"path": str(folder / "state" / "monitor.db")},
        "http": {"timeout_s": 5, "max_bytes": 1_000_000},
        "defaults": {"interval_s": 60, "jitter_s": 0, "max_story_age_h": 24 * 365 * 30},
        "server": {"enabled": False},
        "log": {"format": "json", "level": "INFO"},
        "delivery": {"retry_schedule_s": [0, 0.2, 0.5, 1], "poll_interval_s": 0.1},
        "feeds": list(feeds),
        "watchlists": [str(BUNDLED / "watchlists" / "*.yaml")],
        "rules": [str(BUNDLED / "rules" / "*.yaml")],
        "destinations": list(destinations),
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG",)}
    env.update({"LOG_FORMAT": "json", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def run_cli(
    *args: str,
    config: Path | None = None,
    timeout_s: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``sanctions-monitor [--config C] ARGS`` in a subprocess; output captured as text."""
    cmd = [sys.executable, "-m", "monitor"]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=dict(env or cli_env()),
        cwd=REPO,
    )


@contextmanager
def daemon_process(
    config: Path, *args: str, env: Mapping[str, str] | None = None, log_path: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``sanctions-monitor run`` in a subprocess; killed at exit if still alive."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=dict(env or cli_env()),
        cwd=REPO,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        if log_path:
            out.close()  # type: ignore[union-attr]


def wait_for(predicate: Any, *, timeout_s: float = 20.0, interval_s: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test on time-out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s: {predicate}")
