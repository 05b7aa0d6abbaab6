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
        "http": {"timeout_s": 5, "max_bytes": 1_000_000, "allow_networks": ["127.0.0.0/8"]},
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


# --- helpers for the process-level tests (daemon, probes, crash safety) ------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (closed again at once)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def http_get(url: str, *, timeout_s: float = 3.0) -> tuple[int | None, str]:
    """``(status, body)`` of a GET to a loopback URL; ``(None, why)`` when nothing answered.

    ``http.client`` rather than urllib: it never consults ``$HTTP_PROXY``.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def log_events(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines a daemon wrote to ``path`` (other lines skipped)."""
    import json

    if not path.exists():
        return []
    events: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if isinstance(value, dict):
            events.append(value)
    return events


def events_named(path: Path, name: str, **match: Any) -> list[dict[str, Any]]:
    """Log events called ``name`` whose fields equal ``match``."""
    return [
        e
        for e in log_events(path)
        if e.get("event") == name and all(e.get(k) == v for k, v in match.items())
    ]


def metric_value(exposition: str, name: str, **labels: str) -> float | None:
    """One sample's value from Prometheus text (labels must match exactly); None if absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in exposition.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric != name:
            continue
        got = ",".join(sorted(p for p in label_text.rstrip("}").split(",") if p))
        if got == wanted:
            return float(value)
    return None


# Parts of the synthetic Russia-DPRK transfer stories (``transfer_stories``).
_RU_SIDE = ("Russia", "Moscow", "The Kremlin", "Russian traders", "A Russian state firm")
_DPRK_SIDE = ("North Korea", "Pyongyang", "the DPRK", "North Korean buyers")
_GOODS = (
    ("shipped {n} containers of artillery shells to", "munitions"),
    ("delivered {n} tonnes of refined oil to", "fuel"),
    ("sent {n} luxury limousines to", "cars"),
    ("supplied satellite technology worth ${n} million to", "space"),
    ("sold {n} fighter jet engines to", "aircraft"),
    ("transferred ${n} million in frozen assets to", "money"),
    ("supplied {n} armoured trucks to", "trucks"),
    ("shipped {n} barrels of diesel fuel to", "diesel"),
    ("delivered {n} ballistic missile components to", "missiles"),
    ("sold {n} railway locomotives to", "rail"),
)
_PLACES = (
    "Rajin", "Vladivostok", "Nampo", "Khasan", "Tumangang",
    "Chongjin", "Nakhodka", "Wonsan", "Sinuiju", "Vostochny",
)  # fmt: skip
_SOURCES = (
    "satellite images show",
    "customs data reveal",
    "a UN panel report says",
    "officials in Seoul say",
    "shipping records indicate",
)


def transfer_stories(count: int) -> list[tuple[str, str]]:
    """``count`` (<= 200) distinct (title, summary) pairs the bundled rules each flag.

    Every title names a Russian and a DPRK party, goods (arms, oil, vehicles, technology or
    money) and a transfer verb, so one of the ``ru-dprk.*`` rules fires; numbers, places and
    sources vary so no two stories are near-duplicates (pairwise similarity stays below 0.6,
    under ``similar.DEFAULT_THRESHOLD``).
    """
    import itertools

    combos = list(itertools.product(_RU_SIDE, _DPRK_SIDE, _GOODS))
    if count > len(combos):
        raise ValueError(f"at most {len(combos)} distinct stories")
    out = []
    for k, (ru, dprk, (goods, word)) in enumerate(combos[:count]):
        n = 3 + k * 7
        place = _PLACES[(k * 3) % len(_PLACES)]
        source = _SOURCES[(k // 2) % len(_SOURCES)]
        title = f"{ru} {goods.format(n=n)} {dprk} through {place}, {source}"
        summary = (
            f"Report {k}: the {word} consignment number {n} left {_PLACES[(k + 5) % 10]} "
            f"in week {k % 52 + 1}; analysts in {_PLACES[(k + 7) % 10]} call it case {k * 13} "
            "under UN sanctions."
        )
        out.append((title, summary))
    return out
