"""End to end: the real CLI delivers to failing loopback receivers and no log line leaks a secret.

Alerts are put straight into the outbox (detection is not what is tested here), then
``sanctions-monitor once`` runs with DEBUG logging against a Slack-like and a webhook receiver
on 127.0.0.1 that fail every request and echo back what they were sent (path, signature), the
worst case for a notifier that quotes an error body. Every line of stdout and stderr is then
searched for the secrets and for pieces of them. ``dump-config`` and ``check-config`` output
is searched too.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from monitor.models import Alert, Severity, Story

SLACK_PATH = "/services/T0SECRET1/B0SECRET2/slackSecretTail9931"
HOOK_PATH = "/hooks/receiver-secret-path-4471"
HMAC_SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="
PLAIN_TOKEN = "plain-header-token-55821"
FRAGMENTS = (
    "T0SECRET1",
    "slackSecretTail9931",
    "receiver-secret-path-4471",
    "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ",
    "plain-header-token-55821",
)


class _EchoingFailure(http.server.BaseHTTPRequestHandler):
    """Answers 500 with a body that repeats the request's path and signature."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append(self.path)
        body = (
            f"upstream failure for {self.path} "
            f"sig={self.headers.get('webhook-signature', '')} "
            f"auth={self.headers.get('Authorization', '')}"
        ).encode()
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[str]]]:
    _EchoingFailure.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoingFailure)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _EchoingFailure.seen
    server.shutdown()
    server.server_close()


def queued_alert(destination_id: str, now: datetime) -> Alert:
    story = Story(
        feed_id="loopback",
        title="Putin gave Kim Jong Un a Russian-made Aurus car",
        url="https://news.example/aurus",
        fetched_at=now,
        guid="aurus-1",
        published_at=now,
        key="story-aurus-1",
    )
    return Alert(
        key=f"alert-aurus-1-{destination_id}",
        destination_id=destination_id,
        event="alert.created",
        rule_id="transfer.vehicle",
        topic="dprk",
        severity=Severity.HIGH,
        score=0.9,
        story=story,
        hits=(),
        created_at=now,
        rule_ids=("transfer.vehicle",),
    )


def write_config(folder: Path, base_url: str) -> Path:
    bundled = Path(__file__).resolve().parents[2] / "config"
    data = {
        "state": {"path": str(folder / "state.db")},
        "server": {"enabled": False},
        "log": {"level": "DEBUG", "format": "json"},
        "delivery": {"retry_schedule_s": [0, 60], "poll_interval_s": 0.1},
        "feeds": [],
        "watchlists": [str(bundled / "watchlists" / "*.yaml")],
        "rules": [str(bundled / "rules" / "*.yaml")],
        "destinations": [
            {"id": "slack", "type": "slack", "url": "${E2E_SLACK_URL}", "min_severity": "low"},
            {
                "id": "hook",
                "type": "webhook",
                "url": "${E2E_HOOK_URL}",
                "secret": "${E2E_HOOK_SECRET}",
                "headers": {"Authorization": "Bearer ${E2E_HOOK_TOKEN}"},
                "min_severity": "low",
            },
        ],
    }
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    return f"[exit {result.returncode}]\n{result.stdout}\n{result.stderr}"


@pytest.mark.slow
def test_no_secret_in_any_output_when_deliveries_fail(
    tmp_path: Path, receiver: tuple[str, list[str]]
) -> None:
    from monitor.state.sqlite import SqliteStore

    base_url, seen = receiver
    config = write_config(tmp_path, base_url)
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    env.update(
        E2E_SLACK_URL=base_url + SLACK_PATH,
        E2E_HOOK_URL=base_url + HOOK_PATH,
        E2E_HOOK_SECRET=HMAC_SECRET,
        E2E_HOOK_TOKEN=PLAIN_TOKEN,
        LOG_FORMAT="json",
        NO_COLOR="1",
    )
    now = datetime.now(UTC)
    store = SqliteStore(tmp_path / "state.db")
    store.enqueue([queued_alert("slack", now), queued_alert("hook", now)], now)
    store.close()

    output = run(["--config", str(config), "once"], env)
    output += run(["--config", str(config), "dump-config"], env)
    output += run(["--config", str(config), "check-config"], env)

    assert sorted(seen) == sorted([SLACK_PATH, HOOK_PATH]), output  # both really failed
    assert "alert_delivery_failed" in output  # the error path ran and was logged
    for secret in (base_url + SLACK_PATH, base_url + HOOK_PATH, HMAC_SECRET, *FRAGMENTS):
        assert secret not in output, f"{secret!r} leaked:\n{output}"
